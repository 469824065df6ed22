tier "pro" {
  currency = "EUR"
}

tenant "acme" {
  name = "Acme"
  tier = tier.pro
}
