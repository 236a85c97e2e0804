"""recast studio: the DeepFaceLab workflow in a local web app.

A thin ASGI layer over the stage functions: the server reads workspace files and starts work in
worker processes (:mod:`recast.studio.tasks.jobs`); it computes no stage itself. The frontend is the
static files in ``static/`` (plain HTML, CSS and JavaScript modules, nothing fetched at run time).

Modules: :mod:`~recast.studio.app` (``create_app``), :mod:`~recast.studio.security` (token, Host and
Origin checks), :mod:`~recast.studio.files` (names → paths inside the workspace),
:mod:`~recast.studio.tasks` (what a job can run, its options, and the worker processes that run it),
:mod:`~recast.studio.server` (uvicorn), :mod:`recast.studio.api` (routes).
"""
