"""ORM models of hotline.metrics."""
