tier "team" {
  price    = var.team_price
  currency = "CAD"
}
