locals {
  größe = "ü"
}

tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "zurich" {
  name   = "Zürich ☕" + local.größe
  tier   = tier.pro
  region = "local"
}
