"""How long a ticket has been idle: wall-clock hours, or, with a business calendar configured
(working days, working hours, holidays), working hours only. Public holidays come from the
``holidays`` package (a country and optionally a subdivision), company days off from a list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from support_flows.core.settings import Settings, SettingsError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _parse_days(text: str) -> frozenset[int]:
    """'Mon-Fri' or 'Mon,Tue,Thu' -> weekday numbers (Monday 0)."""
    days: set[int] = set()
    for chunk in filter(None, (c.strip().lower() for c in text.split(","))):
        bounds = [b.strip()[:3] for b in chunk.split("-")]
        if any(b not in DAYS for b in bounds) or len(bounds) > 2:
            raise SettingsError(f"Variable support_business_days: cannot read {chunk!r} (use e.g. Mon-Fri)")
        first, last = DAYS.index(bounds[0]), DAYS.index(bounds[-1])
        days.update(range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)])
    return frozenset(days)


def _parse_hours(text: str) -> tuple[time, time]:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise SettingsError(f"Variable support_business_hours: cannot read {text!r} (use e.g. 09:00-17:00)")
    h1, m1, h2, m2 = map(int, match.groups())
    start, end = time(h1, m1), time(h2, m2) if h2 < 24 else time.max
    if end <= start:
        raise SettingsError(f"Variable support_business_hours: {text!r} ends before it starts")
    return start, end


class DaysOff:
    """Days that are not working days: a country's (and subdivision's) public holidays, plus the
    company's own list. ``day in days_off``; the public holidays of a year are computed when a day
    of that year is first asked about."""

    def __init__(self, extra: frozenset[date] = frozenset(), country: str = "", subdivision: str = ""):
        self.extra = extra
        self.public = None
        if country:
            import holidays

            try:
                self.public = holidays.country_holidays(country.upper(), subdiv=subdivision.upper() or None)
            except NotImplementedError as err:  # the package's word for an unknown country or subdivision
                raise SettingsError(
                    f"Variables support_holiday_country / support_holiday_subdivision ({country!r}, {subdivision!r}): {err}"
                ) from None
        elif subdivision:
            raise SettingsError("Variable support_holiday_subdivision is set without support_holiday_country")

    def __contains__(self, day: date) -> bool:
        return day in self.extra or (self.public is not None and day in self.public)

    def __bool__(self) -> bool:
        return bool(self.extra) or self.public is not None

    def name(self, day: date) -> str | None:
        """What the day off is called (a public holiday's name, or "company day off")."""
        if self.public is not None and day in self.public:
            return self.public.get(day)
        return "company day off" if day in self.extra else None


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    days: frozenset[int] | None = None  # None: every day counts
    hours: tuple[time, time] | None = None  # None: the whole day counts
    holidays: DaysOff | frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> BusinessCalendar:
        return cls(
            tz=ZoneInfo(settings.timezone),
            days=_parse_days(settings.business_days) if settings.business_days else None,
            hours=_parse_hours(settings.business_hours) if settings.business_hours else None,
            holidays=DaysOff(settings.holiday_dates(), settings.holiday_country, settings.holiday_subdivision),
        )

    @property
    def is_wall_clock(self) -> bool:
        return self.days is None and self.hours is None and not self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local day, or None for a day off."""
        if (self.days is not None and day.weekday() not in self.days) or day in self.holidays:
            return None
        open_t, close_t = self.hours or (time.min, time.max)
        start = datetime.combine(day, open_t, tzinfo=self.tz)
        end = (
            datetime.combine(day + timedelta(days=1), time.min, tzinfo=self.tz)
            if close_t == time.max
            else datetime.combine(day, close_t, tzinfo=self.tz)
        )
        return start, end

    def is_working(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in working hours."""
        if self.is_wall_clock:
            return True
        window = self._window(moment.astimezone(self.tz).date())
        return window is not None and window[0] <= moment < window[1]

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself when it is in working hours, else the start of the next working window
        (a reminder due at 3 a.m. or on a Sunday comes when the desk opens)."""
        if self.is_working(moment):
            return moment
        day = moment.astimezone(self.tz).date()
        for _ in range(400):  # a year of days off at most: a calendar with no working day is refused
            window = self._window(day)
            if window is not None and window[1] > moment:
                return max(window[0], moment).astimezone(moment.tzinfo or UTC)
            day += timedelta(days=1)
        raise ValueError("the business calendar has no working day within a year")

    def plus_working_days(self, moment: datetime, days: int) -> datetime:
        """``moment`` moved forward by ``days`` working days, at the same local time (a ticket that
        went pending on Friday at 10:00 is three working days old on Wednesday at 10:00 when the
        desk works Monday to Friday). Without working days set, every day counts."""
        local = moment.astimezone(self.tz)
        day, counted = local.date(), 0
        for _ in range(400 + days * 7):
            if counted >= days:
                return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.tz)
            day += timedelta(days=1)
            if self._window(day) is not None:
                counted += 1
        raise ValueError("the business calendar has no working day within a year")

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Hours from ``start`` to ``end`` that count (both aware datetimes)."""
        if end <= start:
            return 0.0
        if self.is_wall_clock:
            return (end - start).total_seconds() / 3600
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            window = self._window(day)
            if window is not None:
                lo, hi = max(window[0], local_start), min(window[1], local_end)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 3600
            day += timedelta(days=1)
        return total
