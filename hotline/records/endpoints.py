"""HTTP endpoints of hotline.records (filled in by the records work)."""

from fastapi import APIRouter

router = APIRouter()
