"""Who the API and the admin are talking to: token and session authentication, tokens, lockout, permissions."""
