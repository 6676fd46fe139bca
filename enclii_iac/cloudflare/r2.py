"""R2Storage: R2 buckets with lifecycle, CORS and lock rules, and API tokens scoped to one bucket.

r2 = R2Storage("edge-r2", spec.edge, provider=cf_provider, protect=spec.protect)
etcd = r2.credentials_for("backups", "etcd")   # S3Credentials for k3s etcd snapshots
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi

from enclii_iac import providers
from enclii_iac.cloudflare._cf import cf
from enclii_iac.errors import SpecError, SpecIssue
from enclii_iac.models.edge import R2_TOKEN_PERMISSION_GROUPS, EdgeSpec, R2BucketSpec, R2Spec
from enclii_iac.naming import child_name, type_token

TYPE_R2_STORAGE = type_token("R2Storage")

DAY_SECONDS: Final = 86400
R2_REGION: Final = "auto"
"""The region name S3 clients must use with R2."""


def r2_endpoint(account_id: str, jurisdiction: str = "default") -> str:
    """The S3 API endpoint of an account: ``https://<account>.r2.cloudflarestorage.com`` (``.eu.`` for EU)."""
    if jurisdiction == "default":
        return f"https://{account_id}.r2.cloudflarestorage.com"
    return f"https://{account_id}.{jurisdiction}.r2.cloudflarestorage.com"


def bucket_resource(account_id: str, bucket: R2BucketSpec) -> str:
    """The token policy resource naming exactly one bucket."""
    return f"com.cloudflare.edge.r2.bucket.{account_id}_{bucket.jurisdiction}_{bucket.name}"


def s3_secret_from_token(value: str) -> str:
    """R2's S3 secret access key for an API token: the SHA-256 hex digest of the token value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def lifecycle_rules(bucket: R2BucketSpec) -> list[cf.R2BucketLifecycleRuleArgsDict]:
    """``R2BucketLifecycle.rules`` for a bucket (ages in seconds, as R2 counts them)."""
    rules: list[cf.R2BucketLifecycleRuleArgsDict] = []
    for rule_id, r in sorted(bucket.lifecycle.items()):
        out: cf.R2BucketLifecycleRuleArgsDict = {
            "id": rule_id,
            "enabled": r.enabled,
            "conditions": {"prefix": r.prefix},
        }
        if r.expire_after_days is not None:
            out["delete_objects_transition"] = {
                "condition": {"type": "Age", "max_age": r.expire_after_days * DAY_SECONDS}
            }
        if r.abort_multipart_after_days is not None:
            out["abort_multipart_uploads_transition"] = {
                "condition": {"type": "Age", "max_age": r.abort_multipart_after_days * DAY_SECONDS}
            }
        if r.infrequent_access_after_days is not None:
            out["storage_class_transitions"] = [
                {
                    "condition": {"type": "Age", "max_age": r.infrequent_access_after_days * DAY_SECONDS},
                    "storage_class": "InfrequentAccess",
                }
            ]
        rules.append(out)
    return rules


def cors_rules(bucket: R2BucketSpec) -> list[cf.R2BucketCorsRuleArgsDict]:
    """``R2BucketCors.rules`` for a bucket."""
    rules: list[cf.R2BucketCorsRuleArgsDict] = []
    for rule_id, r in sorted(bucket.cors.items()):
        allowed: cf.R2BucketCorsRuleAllowedArgsDict = {"origins": list(r.origins), "methods": list(r.methods)}
        if r.headers:
            allowed["headers"] = list(r.headers)
        out: cf.R2BucketCorsRuleArgsDict = {"id": rule_id, "allowed": allowed, "max_age_seconds": r.max_age_seconds}
        if r.expose_headers:
            out["expose_headers"] = list(r.expose_headers)
        rules.append(out)
    return rules


def lock_rules(bucket: R2BucketSpec) -> list[cf.R2BucketLockRuleArgsDict]:
    """``R2BucketLock.rules`` for a bucket (retention in seconds)."""
    return [
        {
            "id": rule_id,
            "enabled": r.enabled,
            "prefix": r.prefix,
            "condition": {"type": "Age", "max_age_seconds": r.retention_days * DAY_SECONDS},
        }
        for rule_id, r in sorted(bucket.lock.items())
    ]


def _permission_groups(ids: Sequence[str]) -> list[cf.AccountTokenPolicyPermissionGroupArgsDict]:
    return [{"id": i} for i in ids]


@dataclass(frozen=True)
class S3Credentials:
    """S3-protocol access to one R2 bucket, for a consumer (k3s etcd snapshots, PostgreSQL backups).

    ``access_key_id`` is the token id and ``secret_access_key`` the SHA-256 of the token value; both
    are Pulumi secrets.
    """

    endpoint: str
    bucket: str
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    region: str = R2_REGION
    prefix: str = ""

    @property
    def endpoint_host(self) -> str:
        """The endpoint without its scheme (k3s ``etcd-s3-endpoint`` wants a host)."""
        return self.endpoint.split("://", 1)[-1]

    @property
    def folder(self) -> str:
        """``prefix`` without its trailing slash (k3s ``etcd-s3-folder``)."""
        return self.prefix.rstrip("/")

    def as_output(self) -> pulumi.Output[dict[str, str]]:
        return pulumi.Output.secret(
            pulumi.Output.all(
                endpoint=self.endpoint,
                bucket=self.bucket,
                region=self.region,
                prefix=self.prefix,
                access_key_id=self.access_key_id,
                secret_access_key=self.secret_access_key,
            )
        )


def _field(item: Any, key: str) -> Any:
    """A field of an invoke result item (a dict, or an output type that subclasses dict)."""
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _flat_group_ids(lists: Sequence[Sequence[Any]], names: Sequence[str]) -> list[str]:
    return _group_ids([r for rs in lists for r in rs], names)


def _group_ids(results: Sequence[Any], names: Sequence[str]) -> list[str]:
    ids = []
    for want in names:
        found = sorted({str(_field(r, "id")) for r in results if _field(r, "name") == want})
        if len(found) != 1:
            raise RuntimeError(
                f"Cloudflare permission group {want!r}: expected exactly one, found {len(found)}; check "
                f"that the "
                "provider's API token may read account API token permission groups"
            )
        ids.append(found[0])
    return ids


class R2Storage(pulumi.ComponentResource):
    """R2 buckets (backups, Pulumi state, artifacts, ...) with their rules and scoped tokens.

    Buckets marked ``stateful`` (and their lock rules) are protected and retained on delete when
    ``protect`` is true (production). ``adopt`` buckets are imported instead of created.
    """

    bucket_names: pulumi.Output[dict[str, str]]
    s3_credentials: pulumi.Output[dict[str, dict[str, dict[str, str]]]]

    def __init__(
        self,
        name: str,
        args: EdgeSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        provider: cf.Provider | None = None,
        protect: bool = False,
    ) -> None:
        """Declare the buckets of ``args.r2`` with their rules and tokens.

        :param name: logical name; children are ``<name>-<bucket key>[-lifecycle|-cors|-lock|-token-<t>]``.
        :param args: the edge spec (``account_id`` and ``r2.buckets`` are used).
        :param opts: resource options; ``opts.providers`` may carry the Cloudflare provider.
        :param provider: the Cloudflare provider (default: the one in ``opts.providers``; required).
        :param protect: protect and retain stateful buckets and their lock rules (production).
        """
        if args.r2 is None:
            raise SpecError([SpecIssue("edge", "edge.r2", "no R2 buckets are declared; do not declare R2Storage")])
        provider = providers.require(provider, opts, "cloudflare", component="R2Storage", argument="provider")
        r2: R2Spec = args.r2
        super().__init__(TYPE_R2_STORAGE, name, None, opts)
        self.spec = args
        account = args.account_id
        cf_opts = pulumi.ResourceOptions(parent=self, provider=provider)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self, provider=provider)

        group_names = sorted({g for names in R2_TOKEN_PERMISSION_GROUPS.values() for g in names})
        self._group_lists = {
            g: cf.get_account_api_token_permission_groups_list_output(account_id=account, name=g, opts=invoke_opts)
            for g in group_names
        }

        self.buckets: dict[str, cf.R2Bucket] = {}
        self.lifecycles: dict[str, cf.R2BucketLifecycle] = {}
        self.cors: dict[str, cf.R2BucketCors] = {}
        self.locks: dict[str, cf.R2BucketLock] = {}
        self.tokens: dict[str, dict[str, cf.AccountToken]] = {}
        self.credentials: dict[str, dict[str, S3Credentials]] = {}
        for key, b in sorted(r2.buckets.items()):
            keep = protect and b.stateful
            bucket_opts = pulumi.ResourceOptions(protect=keep, retain_on_delete=keep)
            if b.adopt:
                bucket_opts = pulumi.ResourceOptions.merge(
                    bucket_opts, pulumi.ResourceOptions(import_=f"{account}/{b.name}/{b.jurisdiction}")
                )
            bucket = cf.R2Bucket(
                child_name(name, key),
                account_id=account,
                name=b.name,
                jurisdiction=b.jurisdiction,
                storage_class=b.storage_class,
                location=b.location,
                opts=pulumi.ResourceOptions.merge(cf_opts, bucket_opts),
            )
            self.buckets[key] = bucket
            if b.lifecycle:
                self.lifecycles[key] = cf.R2BucketLifecycle(
                    child_name(name, key, "lifecycle"),
                    account_id=account,
                    bucket_name=bucket.name,
                    jurisdiction=b.jurisdiction,
                    rules=lifecycle_rules(b),
                    # a lifecycle rule can expire every object: it changes only deliberately in production
                    opts=pulumi.ResourceOptions.merge(cf_opts, pulumi.ResourceOptions(protect=keep)),
                )
            if b.cors:
                self.cors[key] = cf.R2BucketCors(
                    child_name(name, key, "cors"),
                    account_id=account,
                    bucket_name=bucket.name,
                    jurisdiction=b.jurisdiction,
                    rules=cors_rules(b),
                    opts=cf_opts,
                )
            if b.lock:
                self.locks[key] = cf.R2BucketLock(
                    child_name(name, key, "lock"),
                    account_id=account,
                    bucket_name=bucket.name,
                    jurisdiction=b.jurisdiction,
                    rules=lock_rules(b),
                    opts=pulumi.ResourceOptions.merge(
                        cf_opts, pulumi.ResourceOptions(protect=keep, retain_on_delete=keep)
                    ),
                )
            self.tokens[key] = {}
            self.credentials[key] = {}
            for token_key, t in sorted(b.tokens.items()):
                groups = R2_TOKEN_PERMISSION_GROUPS[t.access]
                group_ids = pulumi.Output.all(*[self._group_lists[g].results for g in groups]).apply(
                    functools.partial(_flat_group_ids, names=groups)
                )
                token = cf.AccountToken(
                    child_name(name, key, "token", token_key),
                    account_id=account,
                    name=f"enclii r2 {b.name} {token_key}",
                    policies=[
                        {
                            "effect": "allow",
                            "permission_groups": group_ids.apply(_permission_groups),
                            "resources": json.dumps({bucket_resource(account, b): "*"}, sort_keys=True),
                        }
                    ],
                    opts=pulumi.ResourceOptions.merge(
                        cf_opts, pulumi.ResourceOptions(additional_secret_outputs=["value"], protect=keep)
                    ),
                )
                self.tokens[key][token_key] = token
                self.credentials[key][token_key] = S3Credentials(
                    endpoint=r2_endpoint(account, b.jurisdiction),
                    bucket=b.name,
                    access_key_id=pulumi.Output.secret(token.id),
                    secret_access_key=pulumi.Output.secret(token.value.apply(s3_secret_from_token)),
                    prefix=t.prefix,
                )

        self.bucket_names = pulumi.Output.from_input({k: b.name for k, b in sorted(r2.buckets.items())})
        per_bucket: dict[str, Any] = {
            key: pulumi.Output.all(**{tk: c.as_output() for tk, c in sorted(creds.items())}) if creds else {}
            for key, creds in sorted(self.credentials.items())
        }
        self.s3_credentials = (
            pulumi.Output.secret(pulumi.Output.all(**per_bucket)) if per_bucket else (pulumi.Output.from_input({}))
        )
        self.register_outputs({"bucket_names": self.bucket_names, "s3_credentials": self.s3_credentials})

    def credentials_for(self, bucket: str, token: str) -> S3Credentials:
        """The S3 credentials of token ``token`` of bucket ``bucket`` (keys as in the spec)."""
        try:
            return self.credentials[bucket][token]
        except KeyError:
            known = ", ".join(f"{b}.{t}" for b in sorted(self.credentials) for t in sorted(self.credentials[b]))
            raise KeyError(
                f"no R2 token {bucket}.{token} is declared (known: {known or 'none'}); add it "
                f"under "
                f"edge.r2.buckets.{bucket}.tokens"
            ) from None
