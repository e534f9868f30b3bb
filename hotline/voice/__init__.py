"""The voice path's application layer: one step per Twilio webhook (`steps`), run in a `Turn`
(the app's services, the step's unit of work, its time), returning what to say next
(`outcomes`). The steps take Twilio's parameters parsed (`params`, `urls.Query`) and ask the
pure menu flow (`flow`). The Twilio edge (`hotline.ivr.webhooks`) verifies, parses, calls one
step and renders its outcome."""
