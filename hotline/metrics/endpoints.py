"""HTTP endpoints of hotline.metrics (filled in by the metrics work)."""

from fastapi import APIRouter

router = APIRouter()
