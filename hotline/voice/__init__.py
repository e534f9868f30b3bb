"""The voice path's application layer: one step per Twilio webhook (`steps`), and the pure
menu flow those steps ask (`flow`). The Twilio edge (`hotline.ivr.webhooks`) parses, calls
one step and renders what it returns."""
