"""The Instagram Graph API: `errors` (what a failure means), `payloads` (what to send, pure),
`session` (one request over HTTP, retried where safe) and `client` (the Graph calls of one
account). Only `publishing` and `publisher accounts` use it."""
