"""Service logic: validation, rules and transactions. Knows neither gRPC nor SQL."""
