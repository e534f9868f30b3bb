"""ORM models of hotline.records."""
