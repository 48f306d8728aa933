"""The shop: a catalogue of gem packs, coin bundles and item packages, promo codes, buying
(from the ledger at once, or with money through the payment port), webhooks, the sweep of
stuck payments, refunds and receipts. Real money only ever buys gems."""
