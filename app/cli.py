"""Flask CLI commands of the shared app: demo data, the RQ worker, account bootstrap, academic
years."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import jobs, years
from .auth import services
from .demo import DEMO_LOGINS, load_demo
from .models import Role
from .security import password_problem
from .workers import run_worker

demo_cli = AppGroup("demo", help="Demo district data.")
users_cli = AppGroup("users", help="Account administration.")
years_cli = AppGroup("years", help="Academic years: create one, set the current one.")


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


@years_cli.command("create")
@click.argument("name")
@click.option("--start", "starts_on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option("--end", "ends_on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day.")
@click.option(
    "--term2-start", "term2_starts_on", type=click.DateTime(["%Y-%m-%d"]), help="Term II's first day."
)
@click.option("--current", is_flag=True, help="Make it the current year.")
def years_create(name, starts_on, ends_on, term2_starts_on, current):
    """Create an academic year NAME (e.g. 2027-2028)."""
    try:
        year = years.create_year(
            name,
            starts_on.date(),
            ends_on.date(),
            term2_starts_on=term2_starts_on.date() if term2_starts_on else None,
            current=current,
        )
    except years.YearError as err:
        raise click.UsageError(err.code) from err
    jobs.commit()
    click.echo(
        f"created academic year {year.name} {year.starts_on}..{year.ends_on}, term II from "
        f"{year.term2_start}" + (", current" if year.is_current else "")
    )


@years_cli.command("set-current")
@click.argument("name")
def years_set_current(name):
    """Make the academic year NAME the current one (the others keep their records)."""
    year = years.year_by_name(name)
    if year is None:
        raise click.UsageError("unknown_year")
    changed = years.set_current(year)
    jobs.commit()
    click.echo(f"current academic year: {year.name}" + ("" if changed else " (unchanged)"))


@years_cli.command("list")
def years_list():
    """List the academic years, the latest first; `*` marks the current one."""
    for year in years.all_years():
        mark = "*" if year.is_current else " "
        click.echo(f"{mark} {year.name} {year.starts_on}..{year.ends_on} term II from {year.term2_start}")


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
    app.cli.add_command(years_cli)
    app.cli.add_command(worker)
