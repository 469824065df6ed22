tier "internal" {
  price    = 0
  currency = "EUR"
}

resource "catalog_tier" "legacy" {
  name     = "legacy"
  price    = 5
  currency = "EUR"
}

tenant "ops" {
  name       = "Operations"
  tier       = tier.internal
  region     = "local"
  depends_on = [catalog_tier.legacy]
}
