tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "eu-west-1"
}

tenant "acme_copy" {
  id     = "acme"
  name   = "Acme again"
  tier   = tier.pro
  region = "eu-west-1"
}

tenant "shops" {
  for_each = toset(["a", "b"])
  id       = "shop"
  name     = "Shop ${each.key}"
  tier     = tier.pro
  region   = "eu-west-1"
}
