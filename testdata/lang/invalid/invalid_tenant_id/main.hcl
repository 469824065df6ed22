tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "Acme-Corp" {
  name   = "Acme"
  tier   = tier.pro
  region = "local"
}

tenant "studios" {
  for_each = toset(["berlin-mitte"])
  name     = each.key
  tier     = tier.pro
  region   = "local"
}
