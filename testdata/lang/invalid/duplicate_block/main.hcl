tier "pro" {
  price    = 10
  currency = "EUR"
}

tier "pro" {
  price    = 20
  currency = "EUR"
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "local"

  database "sqlite" {}
  database "sqlite" {}
}
