"""AppSecrets: the JWT signing secrets the api needs, generated per stack unless given as secret config.

With `ams:secrets.mode: externalSecrets` they come from Vault instead; this component then also owns the
app namespace's SecretStore (and, if asked, installs the External Secrets Operator).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from .. import k8s as kb
from ..operator_namespace import OperatorPlacement
from ..secret_store import SecretSource, Value
from ..settings import SecretsSettings

SECRET_NAME = "ams-jwt"
ACCESS_KEY = "jwt-access-secret"
REFRESH_KEY = "jwt-refresh-secret"


@dataclass(frozen=True)
class AppSecretsArgs:
    namespace: pulumi.Input[str]
    secrets: SecretsSettings
    # From `pulumi config set --secret ams:jwtAccessSecret ...`; None means generate one.
    jwt_access_secret: pulumi.Output[str] | None = None
    jwt_refresh_secret: pulumi.Output[str] | None = None
    # What the stack's operator namespaces share, for External Secrets' when this stack installs it.
    operators: OperatorPlacement | None = None


class AppSecrets(pulumi.ComponentResource):
    """The JWT Secret `ams-jwt` (both signing keys), generated per stack, from secret config, or synced from Vault
    by External Secrets (whose operator it installs when asked). Values flow only as secret Outputs.

    Needs: the app namespace, the secrets settings and the optional configured keys.
    """

    jwt_access: kb.SecretKeyRef
    jwt_refresh: kb.SecretKeyRef
    # The External Secrets Operator release when this stack installs it: its CRDs must exist first.
    ready: list
    # What creates the JWT Secret: pods that read it wait for it, and roll when `digest` changes.
    secrets: list
    digest: pulumi.Output[str]

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:AppSecrets", name, None, opts)
        source = SecretSource(args.secrets)
        child = pulumi.ResourceOptions(parent=self)
        operator = source.operator(f"{name}-external-secrets", child, args.operators)
        self.ready = operator
        source.store(name, args.namespace, child, depends_on=operator)
        if source.external:
            access = refresh = None
        else:
            access = args.jwt_access_secret or self._generated(f"{name}-jwt-access")
            refresh = args.jwt_refresh_secret or self._generated(f"{name}-jwt-refresh")
        values = {ACCESS_KEY: Value(access, remote=ACCESS_KEY), REFRESH_KEY: Value(refresh, remote=REFRESH_KEY)}
        self.digest = source.digest(values)
        jwt = source.secret(
            f"{name}-jwt",
            SECRET_NAME,
            args.namespace,
            values,
            pulumi.ResourceOptions(parent=self, depends_on=operator),
            component="api",
        )
        self.secrets = [jwt]
        self.jwt_access = kb.SecretKeyRef(SECRET_NAME, ACCESS_KEY)
        self.jwt_refresh = kb.SecretKeyRef(SECRET_NAME, REFRESH_KEY)
        self.register_outputs({"secret_name": SECRET_NAME})

    def _generated(self, name: str) -> pulumi.Output[str]:
        # 64 alphanumerics: ~380 bits, well above HS256's 256-bit key size, and safe in any env parser.
        return random.RandomPassword(name, length=64, special=False, opts=pulumi.ResourceOptions(parent=self)).result
