"""The serving room: FastAPI app (:func:`serving.app.create_app`), weekly scoring job, roles and audit trail.

Nothing happens on import: the app is built by the factory and the model is loaded in its lifespan.
"""
