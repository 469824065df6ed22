# Tenants whose files live in Azure: each gets a private Blob Storage
# container in the customer's storage account, with metadata naming the
# tenant, tier and policy (see docs/providers/azure.md).
#
# The defaults point at Azurite on 127.0.0.1:10000 with its public
# development account. For a real account, pass `-var azure_account=`,
# `-var azure_account_key=` and `-var azure_endpoint=https://ACCOUNT.blob.core.windows.net`.
#
# A container's region is its storage account's region: the `region` of a
# tenant is recorded in state, and tenants of another region need an account
# there, with a second `provider "azure"` block that sets `alias`.

variable "azure_endpoint" {
  type        = string
  default     = "http://127.0.0.1:10000/devstoreaccount1"
  description = "Blob service URL of the storage account, without a trailing slash."
}

variable "azure_account" {
  type        = string
  default     = "devstoreaccount1"
  description = "Storage account name."
}

variable "azure_account_key" {
  type        = string
  # Azurite's published development key, which protects nothing.
  default     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  sensitive   = true
  description = "One of the storage account's access keys, base64-encoded."
}

provider "azure" {
  account_name = var.azure_account
  account_key  = var.azure_account_key
  endpoint     = var.azure_endpoint
}

tenant "fabrikam" {
  name            = "Fabrikam Insurance"
  tier            = tier.enterprise
  region          = "westeurope"
  security_policy = security_policy.regulated

  storage "azure_blob" {}
}

tenant "litware" {
  name            = "Litware Analytics"
  tier            = tier.business
  region          = "westeurope"
  security_policy = security_policy.standard

  storage "azure_blob" {}
}
