"""Public and per-person pages: signup, login, logout, password reset, profile, tenant switcher."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from saas.accounts import services as accounts
from saas.errors import DomainError
from saas.extensions import limiter
from saas.web.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LocaleForm,
    LoginForm,
    ProfileForm,
    ResetPasswordForm,
    SignupForm,
)
from saas.web.helpers import attach_errors, base_url, safe_next, start_browser_session
from tenants import services as tenants

bp = Blueprint("accounts", __name__)


def _signup_limit() -> str:
    from flask import current_app

    return current_app.config["KEHU_SETTINGS"].signup_rate_limit


def _login_limit() -> str:
    from flask import current_app

    return current_app.config["KEHU_SETTINGS"].login_rate_limit


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.tenant_list"))
    return redirect(url_for("accounts.login"))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_signup_limit, methods=["POST"])
def signup():
    form = SignupForm()
    if request.method == "GET" and not form.locale.data:
        form.locale.data = "zh_CN" if _prefers_chinese() else "en"
    if form.validate_on_submit():
        try:
            result = tenants.signup(
                form.company.data,
                form.slug.data,
                form.email.data,
                form.password.data,
                form.locale.data,
            )
        except DomainError as err:
            attach_errors(form, err)
        else:
            start_browser_session(result.user)
            flash(
                _("Welcome to Kehu! Your company %(name)s is ready.", name=result.tenant.name),
                "success",
            )
            return redirect(url_for("tenant.home", slug=result.tenant.slug))
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/signup.html", form=form), status


def _prefers_chinese() -> bool:
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    return bool(best and best.startswith("zh"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except DomainError as err:
            attach_errors(form, err)
        else:
            start_browser_session(user)
            return redirect(safe_next(form.next.data, url_for("accounts.tenant_list")))
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated and current_user.current_session_id:
        accounts.revoke_session(current_user.current_session_id)
    logout_user()
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data, base_url())
        flash(
            _(
                "If an account exists for that address, we have sent it a link to reset the "
                "password."
            ),
            "info",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        accounts.user_for_reset_token(token)
    except DomainError as err:
        return render_template("error.html", code=400, message=err.message), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.reset_password(token, form.password.data)
        except DomainError as err:
            attach_errors(form, err)
        else:
            start_browser_session(user)
            flash(_("Your password has been changed. Other sessions were logged out."), "success")
            return redirect(url_for("accounts.tenant_list"))
    status = 400 if request.method == "POST" else 200
    return render_template("accounts/reset.html", form=form), status


@bp.get("/tenants")
@login_required
def tenant_list():
    memberships = tenants.memberships_of(current_user.id)
    if len(memberships) == 1 and request.args.get("choose") is None:
        return redirect(url_for("tenant.home", slug=memberships[0].tenant.slug))
    return render_template("accounts/tenants.html", memberships=memberships)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    profile = ProfileForm(prefix="profile", obj=current_user if request.method == "GET" else None)
    password = ChangePasswordForm(prefix="password")
    if request.method == "POST" and "profile-submit" in request.form and profile.validate():
        try:
            accounts.update_profile(
                current_user,
                name=profile.name.data,
                locale=profile.locale.data,
                timezone=profile.timezone.data,
            )
        except DomainError as err:
            attach_errors(profile, err)
        else:
            flash(_("Your profile has been saved."), "success")
            return redirect(url_for("accounts.account"))
    if request.method == "POST" and "password-submit" in request.form and password.validate():
        try:
            accounts.change_password(
                current_user,
                password.current_password.data,
                password.new_password.data,
                current_user.current_session_id,
            )
        except DomainError as err:
            attach_errors(password, err)
        else:
            flash(_("Your password has been changed. Other sessions were logged out."), "success")
            return redirect(url_for("accounts.account"))
    sessions = accounts.active_sessions(current_user.id)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "accounts/account.html", profile=profile, password=password, sessions=sessions
    ), status


@bp.post("/account/sessions/<session_id>/revoke")
@login_required
def revoke_session(session_id: str):
    owned = {s.id for s in accounts.active_sessions(current_user.id)}
    if session_id not in owned:
        abort(404)
    accounts.revoke_session(session_id)
    flash(_("The session has been logged out."), "info")
    return redirect(url_for("accounts.account"))


@bp.post("/locale")
def set_locale():
    form = LocaleForm()
    if not form.validate_on_submit():
        abort(400)
    session["locale"] = form.locale.data
    if current_user.is_authenticated:
        accounts.update_profile(current_user, locale=form.locale.data)
    return redirect(safe_next(form.next.data, url_for("accounts.index")))
