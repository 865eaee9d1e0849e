"""Flask CLI commands of the shared app: demo data, the RQ worker, account bootstrap."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import jobs
from .auth import services
from .demo import DEMO_LOGINS, load_demo
from .models import Role
from .security import password_problem
from .workers import run_worker

demo_cli = AppGroup("demo", help="Demo district data.")
users_cli = AppGroup("users", help="Account administration.")


@demo_cli.command("load")
def demo_load():
    """Load (or refresh) the demo district: schools, catchments, roster, accounts."""
    counts = load_demo()
    jobs.commit()
    click.echo("Demo district loaded: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo("Demo logins (password for all: {}):".format(DEMO_LOGINS["password"]))
    for role, login in DEMO_LOGINS["accounts"]:
        click.echo(f"  {role:<18} {login}")


@users_cli.command("create-admin")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.password_option()
def create_admin(email, full_name, password):
    """Create a city administrator (the first account of a new installation)."""
    problem = password_problem(password, staff=True, context=(email, full_name))
    if problem:
        raise click.UsageError(f"password refused: {problem}")
    try:
        services.create_staff(
            full_name=full_name, email=email, phone=None, role=Role.CITY_ADMIN, password=password
        )
    except services.AccountError as err:
        raise click.UsageError(err.code) from err
    jobs.commit()
    click.echo(f"created city admin {email}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.argument("queues", nargs=-1)
@with_appcontext
def worker(burst, queues):
    """Run an RQ worker inside the app context (needs REDIS_URL), with the relay pass every
    JOB_RELAY_INTERVAL seconds; it rides out Redis and database outages (app/workers.py)."""
    if jobs.redis_connection() is None:
        raise click.UsageError("REDIS_URL is not set: jobs run in-process, no worker is needed.")
    run_worker(current_app._get_current_object(), list(queues or (current_app.config["JOB_QUEUE"],)), burst)


def register(app) -> None:
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(worker)
