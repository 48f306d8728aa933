"""Identity: accounts per realm, passwords, JWTs, refresh families, principals and roles."""
