"""The worker side of modelhooks: ``celery -A workers worker`` and ``beat``.

The Celery application is made on first access of ``workers.app``, so that
importing the command line does not read the environment before
``modelhooks dev`` has put its own defaults in it.
"""


def __getattr__(name: str):
    if name == "app":
        from workers.celery_app import celery_app

        return celery_app
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
