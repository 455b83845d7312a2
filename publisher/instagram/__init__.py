"""The Instagram Graph API: `errors` (what a failure means), `payloads` (what to send, pure),
`client` (how to send it). Only `publishing` and `cli accounts` use it."""
