tennant "acme" {
  name = "Acme"
}

tier "pro" {
  price    = 10
  currency = "EUR"

  limit {
    seats = 3
  }
}
