"""Waymark's server: Litestar app, WebSocket sync, REST API, storage engines, admin."""
