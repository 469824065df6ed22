tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "many" {
  for_each = 3
  name     = "Many"
  tier     = tier.pro
  region   = "local"
}
