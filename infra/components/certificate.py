"""The HTTPS listener's certificate in Key Vault, and the App Gateway identity that may read it.

Either the operator's certificate (``tlsCertificate: keyVault``: a versionless secret id in their vault)
or, for dev stacks, a self-signed one for the public host name, generated here and stored in a vault of
the stack. Either way the Application Gateway reads it with its own user-assigned identity (it supports no
system-assigned one for Key Vault) holding Key Vault Secrets User on that vault, and picks up each new
version of the secret by itself within four hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls
from pulumi_azure_native import authorization, keyvault, managedidentity

from infra.components.pfx import pfx_base64
from infra.components.roles import KEY_VAULT_SECRETS_USER, role_definition_id

SELF_SIGNED_VALIDITY_HOURS = 365 * 24
SELF_SIGNED_RENEWAL_HOURS = 30 * 24
"""``pulumi up`` within the last 30 days of validity issues a new certificate."""
PFX_CONTENT_TYPE = "application/x-pkcs12"


@dataclass(frozen=True)
class CertificateArgs:
    resource_group_name: pulumi.Input[str]
    location: str
    prefix: str
    label: str
    subscription_id: pulumi.Input[str]
    tenant_id: pulumi.Input[str]
    host_name: pulumi.Input[str]
    """The name the self-signed certificate is for (its subject and only DNS name)."""
    secret_id: str | None = None
    """The operator's versionless Key Vault secret id; None: self-signed."""
    key_vault_id: str | None = None
    """ARM id of the vault holding ``secret_id``."""


class Certificate(pulumi.ComponentResource):
    """``secret_id`` for the listener, ``identity_id`` for the App Gateway."""

    secret_id: pulumi.Output[str]
    identity_id: pulumi.Output[str]

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mcpgw:azure:Certificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-appgw",
            resource_group_name=args.resource_group_name,
            location=args.location,
            resource_name_=f"{args.prefix}-appgw",
            opts=child,
        )
        if args.secret_id is not None and args.key_vault_id is not None:
            vault_id: pulumi.Input[str] = args.key_vault_id
            self.secret_id = pulumi.Output.from_input(args.secret_id)
        else:
            vault_id, self.secret_id = self._self_signed(name, args)
        authorization.RoleAssignment(
            f"{name}-appgw-secrets-user",
            principal_id=identity.principal_id,
            principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
            role_definition_id=role_definition_id(args.subscription_id, KEY_VAULT_SECRETS_USER),
            scope=vault_id,
            opts=child,
        )
        self.identity_id = identity.id
        self.register_outputs({"secretId": self.secret_id, "identityId": identity.id})

    def _self_signed(self, name: str, args: CertificateArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        child = pulumi.ResourceOptions(parent=self)
        # Vault names are global and stay reserved while soft-deleted: a random suffix lets a destroyed
        # stack come back under the same label.
        suffix = random.RandomString(f"{name}-vault-suffix", length=6, special=False, upper=False, opts=child)
        vault = keyvault.Vault(
            f"{name}-vault",
            resource_group_name=args.resource_group_name,
            location=args.location,
            vault_name=pulumi.Output.concat(f"kv-{args.label[:13]}-", suffix.result),
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.STANDARD),
                # Azure RBAC, not access policies: the App Gateway's grant is an ordinary role assignment.
                enable_rbac_authorization=True,
                soft_delete_retention_in_days=7,
            ),
            opts=child,
        )
        key = tls.PrivateKey(f"{name}-key", algorithm="RSA", rsa_bits=2048, opts=child)
        cert = tls.SelfSignedCert(
            f"{name}-self-signed",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=args.host_name, organization="MCP Gateway (dev)"),
            dns_names=[args.host_name],
            validity_period_hours=SELF_SIGNED_VALIDITY_HOURS,
            early_renewal_hours=SELF_SIGNED_RENEWAL_HOURS,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=child,
        )
        pfx = pulumi.Output.all(key.private_key_pem, cert.cert_pem).apply(lambda pems: pfx_base64(*pems))
        secret = keyvault.Secret(
            f"{name}-secret",
            resource_group_name=args.resource_group_name,
            vault_name=vault.name,
            secret_name="gateway-tls",
            properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(pfx), content_type=PFX_CONTENT_TYPE),
            opts=child,
        )
        secret_uri = secret.properties.apply(lambda p: p.secret_uri or "")
        return vault.id, secret_uri
