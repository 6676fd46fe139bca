"""Identity and access: OIDC for the Kubernetes API (``render``), the spec's cross-checks (``checks``) and
Cloudflare Access in front of the admin surfaces with Janua as its login (``access.IdentityAccess``).

See docs/identity.md. The pure modules import no Pulumi; ``access`` does.
"""
