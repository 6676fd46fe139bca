"""Policy rules: pure functions over specs and recorded resources, reused by tests, the CLI and CrossGuard."""
