# Tenants whose files live in Google Cloud: each gets a private Cloud
# Storage bucket with uniform bucket-level access, public access prevention,
# the retention its policy asks for, and labels naming the tenant, tier and
# policy (see docs/providers/gcp.md).
#
# The defaults point at fake-gcs-server on 127.0.0.1:4443 with anonymous
# credentials. For a real project, pass `-var gcp_endpoint=https://storage.googleapis.com`,
# `-var gcp_project=` and `-var gcp_credentials=` with the path of a service
# account key file or `application_default`.
#
# fake-gcs-server reports every bucket in US-CENTRAL1 and keeps no labels or
# retention policy. After an apply against it, the next plan therefore shows
# Contoso's EU bucket as replaced, while Fourth Coffee's bucket plans no
# change.

variable "gcp_endpoint" {
  type        = string
  default     = "http://127.0.0.1:4443"
  description = "Cloud Storage endpoint URL."
}

variable "gcp_project" {
  type        = string
  default     = "tenancy-local"
  description = "Google Cloud project that owns the tenant buckets."
}

variable "gcp_credentials" {
  type        = string
  default     = "anonymous"
  description = "`anonymous` for the emulator, `application_default`, or a key file path."
}

provider "gcp" {
  project       = var.gcp_project
  endpoint      = var.gcp_endpoint
  credentials   = var.gcp_credentials
  bucket_prefix = "multi-cloud-example"
}

tenant "contoso" {
  name            = "Contoso Pharmaceuticals"
  tier            = tier.enterprise
  region          = "europe-west3"
  security_policy = security_policy.regulated

  storage "gcs" {
    versioning = true
  }
}

tenant "fourth_coffee" {
  name            = "Fourth Coffee"
  tier            = tier.starter
  region          = "us-central1"
  security_policy = security_policy.standard

  storage "gcs" {}
}
