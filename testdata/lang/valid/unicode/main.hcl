locals {
  café   = "Café Zürich ☕"
  größe  = length(local.café)
  日本語 = "東京"
}

tier "standard" {
  price       = 12.5
  currency    = "JPY"
  description = "${local.日本語} (${local.größe} chars)"
}

tenant "zurich" {
  name   = local.café
  tier   = tier.standard
  region = "switzerlandnorth"
}
