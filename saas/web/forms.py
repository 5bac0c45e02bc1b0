"""WTForms for the server-rendered pages (CSRF comes with Flask-WTF)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

LOCALE_CHOICES = [SelectChoice("zh_CN", "简体中文"), SelectChoice("en", "English")]


class SignupForm(FlaskForm):
    """Field rules live in the signup service, so that every error shows at once."""

    company = StringField(_l("Company name"))
    slug = StringField(_l("Address"))
    email = EmailField(_l("Work email"))
    password = PasswordField(_l("Password"))
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=200)])
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    timezone = StringField(_l("Time zone"), validators=[Length(max=64)])


class LocaleForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES)
    next = HiddenField()


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"))


class AcceptInviteForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Length(max=200)])
    password = PasswordField(_l("Choose a password"), validators=[Length(max=128)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"))


class ConfirmForm(FlaskForm):
    """An empty form: a CSRF-protected POST for a confirmed action."""


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])


class SettingsForm(FlaskForm):
    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    default_locale = SelectField(_l("Default language"), choices=LOCALE_CHOICES)
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), Length(max=64)])
    currency = SelectField(_l("Currency"))
    # Left out of a post: the policy stays as it is (the service checks the value).
    duplicate_policy = SelectField(
        _l("Possible duplicate customers, contacts and leads"),
        choices=[
            SelectChoice("warn", _l("Warn, and save when the person confirms")),
            SelectChoice("block", _l("Refuse (owners and administrators may still save)")),
        ],
        validate_choice=False,
    )
    # The public pool's rules (saas.crm.pool checks them too); left out of a post: unchanged.
    pool_return_days = IntegerField(
        _l("Days without activity before a customer returns to the public pool"),
        validators=[Optional(), NumberRange(min=0, max=3650)],
    )
    pool_exempt_stages = SelectMultipleField(
        _l("Lifecycle stages that never return to the pool"), validate_choice=False
    )
    pool_owner_cap = IntegerField(
        _l("Most customers one salesperson may own"),
        validators=[Optional(), NumberRange(min=0, max=100_000)],
    )
    pool_review_days = IntegerField(
        _l("Days of the development window before review"),
        validators=[Optional(), NumberRange(min=0, max=3650)],
    )
    pool_reclaim_days = IntegerField(
        _l("Days before someone may claim back a customer they gave up"),
        validators=[Optional(), NumberRange(min=0, max=365)],
    )
    #: Sent by the settings page, so that no stage ticked means "none" rather than "unchanged".
    pool_fields = HiddenField(default="1")
    quote_discount_threshold = DecimalField(
        _l("Quote discount needing approval (%)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=100)],
    )
    recycle_days = IntegerField(
        _l("Days deleted records stay in the recycle bin"),
        validators=[Optional(), NumberRange(min=0, max=3650)],
    )


class ObjectForm(FlaskForm):
    """A custom object, or the names of any object (the key is left out when renaming)."""

    key = StringField(_l("Key"))
    label_zh = StringField(_l("Name in Chinese"))
    label_en = StringField(_l("Name in English"))
    plural_zh = StringField(_l("Plural in Chinese"))
    plural_en = StringField(_l("Plural in English"))
    icon = StringField(_l("Icon"))


class FieldForm(FlaskForm):
    """The properties every custom field has; saas.web.admin adds the options of its type.

    The metadata service checks every value, so that all problems show at once."""

    key = StringField(_l("Key"))
    label_zh = StringField(_l("Label in Chinese"))
    label_en = StringField(_l("Label in English"))
    help_zh = TextAreaField(_l("Help text in Chinese"), render_kw={"rows": 2})
    help_en = TextAreaField(_l("Help text in English"), render_kw={"rows": 2})
    required = BooleanField(_l("Required"))
    unique = BooleanField(_l("Unique"))
    indexed = BooleanField(_l("Indexed"))
    searchable = BooleanField(_l("Searchable"))
    active = BooleanField(_l("Active"))
    default = StringField(_l("Default value"))
