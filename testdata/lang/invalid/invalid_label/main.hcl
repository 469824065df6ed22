tier "pro plan" {
  price    = 10
  currency = "EUR"
}

tier "basic" {
  price    = 0
  currency = "EUR"
}

tenant "9lives" {
  id     = "nine_lives"
  name   = "Nine Lives"
  tier   = tier.basic
  region = "local"
}
