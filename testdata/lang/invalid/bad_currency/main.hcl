tier "pro" {
  price    = 10
  currency = "eur"
}

tier "team" {
  price    = -5
  currency = "EUX"
}
