"""R2Storage on its own: one bucket for media uploads, its rules and a token scoped to it.

The token's S3 credentials (access key id = token id, secret = SHA-256 of the token value) are exported as
a secret stack output, for an app that writes to the bucket.
"""

import pulumi

from enclii_iac import CorsRuleSpec, EdgeSpec, LifecycleRuleSpec, R2BucketSpec, R2Spec, R2TokenSpec
from enclii_iac.cloudflare import R2Storage, cf
from enclii_iac.stack import require_secret

edge = EdgeSpec(
    account_id="0123456789abcdef0123456789abcdef",  # yours: the dashboard's sidebar
    zone_id="fedcba9876543210fedcba9876543210",
    r2=R2Spec(
        buckets={
            "media": R2BucketSpec(
                name="acme-media",
                stateful=False,
                lifecycle={"tmp": LifecycleRuleSpec(prefix="tmp/", expire_after_days=1)},
                cors={"web": CorsRuleSpec(origins=["https://shop.example.com"], methods=["GET", "HEAD", "PUT"])},
                tokens={"uploader": R2TokenSpec(access="write")},
            )
        }
    ),
)

cloudflare = cf.Provider(
    "cloudflare", api_token=require_secret("cloudflareToken", "pulumi config set --secret cloudflareToken <token>")
)
r2 = R2Storage("media", edge, pulumi.ResourceOptions(providers=[cloudflare]))
uploader = r2.credentials_for("media", "uploader")
pulumi.export("bucket", uploader.bucket)
pulumi.export("endpoint", uploader.endpoint)
pulumi.export("credentials", pulumi.Output.secret({"accessKeyId": uploader.access_key_id,
                                                   "secretAccessKey": uploader.secret_access_key}))
