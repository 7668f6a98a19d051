from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from support_flows.core.business_time import BusinessCalendar, _parse_days, _parse_hours
from support_flows.core.settings import Settings, SettingsError


def test_wall_clock_without_a_calendar():
    cal = BusinessCalendar.from_settings(Settings())
    assert cal.hours_between(datetime(2026, 11, 20, 12, tzinfo=UTC), datetime(2026, 11, 23, 12, tzinfo=UTC)) == 72


def test_working_hours_skip_nights_weekends_and_holidays():
    cal = BusinessCalendar.from_settings(
        Settings(
            timezone="Europe/London", business_days="Mon-Fri", business_hours="09:00-17:00", holidays=("2026-11-23",)
        )
    )
    # Friday 16:00 to Tuesday 10:00 London: 1 h Friday, Monday a holiday, 1 h Tuesday.
    start = datetime(2026, 11, 20, 16, tzinfo=ZoneInfo("Europe/London"))
    end = datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Europe/London"))
    assert cal.hours_between(start, end) == pytest.approx(2.0)
    assert cal.hours_between(end, start) == 0


def test_parsing_days_and_hours():
    assert _parse_days("Mon-Fri") == frozenset(range(5))
    assert _parse_days("Fri-Mon") == frozenset({4, 5, 6, 0})
    assert _parse_days("Mon, Wed") == frozenset({0, 2})
    with pytest.raises(SettingsError, match="business_days"):
        _parse_days("Someday")
    with pytest.raises(SettingsError, match="business_hours"):
        _parse_hours("9 to 5")
    with pytest.raises(SettingsError, match="ends before"):
        _parse_hours("17:00-09:00")
    assert Settings(holidays=("2026-12-25",)).holiday_dates() == {date(2026, 12, 25)}


def test_a_countrys_public_holidays_and_the_companys_days_off_both_count():
    cal = BusinessCalendar.from_settings(
        Settings(
            timezone="America/Los_Angeles",
            business_days="Mon-Fri",
            business_hours="09:00-17:00",
            holiday_country="us",
            holiday_subdivision="ca",
            holidays=("2026-11-30",),
        )
    )
    la = ZoneInfo("America/Los_Angeles")
    # Wednesday 25 Nov 16:00 to Tuesday 1 Dec 10:00: 1 h Wednesday; Thanksgiving (Thursday) and the
    # day after (a California holiday) are public holidays, then the weekend, then Monday the
    # company's day off; 1 h Tuesday.
    assert cal.hours_between(datetime(2026, 11, 25, 16, tzinfo=la), datetime(2026, 12, 1, 10, tzinfo=la)) == 2.0
    assert cal.holidays.name(date(2026, 11, 26)) == "Thanksgiving Day"
    assert cal.holidays.name(date(2026, 11, 30)) == "company day off"
    assert date(2027, 7, 5) in cal.holidays  # a later year is known too (4 July 2027 is a Sunday)
    # without the subdivision, the day after Thanksgiving is a working day
    federal = BusinessCalendar.from_settings(Settings(timezone="America/Los_Angeles", holiday_country="US"))
    assert date(2026, 11, 26) in federal.holidays and date(2026, 11, 27) not in federal.holidays
    assert not federal.is_wall_clock


@pytest.mark.parametrize(
    "country, subdivision, message",
    [
        ("XX", "", "Country XX not available"),
        ("US", "ZZ", "subdivision ZZ"),
        ("", "CA", "without support_holiday_country"),
    ],
)
def test_an_unknown_country_or_subdivision_names_the_variables(country, subdivision, message):
    with pytest.raises(SettingsError, match=message):
        BusinessCalendar.from_settings(Settings(holiday_country=country, holiday_subdivision=subdivision))
