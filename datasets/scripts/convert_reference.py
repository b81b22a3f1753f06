#!/usr/bin/env python3
"""Builds the committed reference CSVs under datasets/ from two permissively licensed PyPI packages.

    pip download --no-deps twstock==1.5.1 tej-exchange-calendars==1.0.1 exchange-calendars==4.13.2 -d /tmp/x
    (cd /tmp/x && for w in *.whl; do unzip -oq "$w" -d "${w%%-*}"; done)
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install exchange-calendars==4.13.2
    /tmp/venv/bin/python datasets/scripts/convert_reference.py /tmp/x datasets

Outputs (all UTF-8, header row):
  securities.csv  common stocks of TWSE (incl. TIB) and TPEx: code,name,board,industry,listed
                  (twstock 1.5.1, MIT, (c) 2017-2024 Louie Lu; rows from the TWSE ISIN directory)
  calendar.csv    every TWSE session 2005-01-03 .. 2026-12-31: date,source
                  source = tej (tej-exchange-calendars 1.0.1, Apache-2.0: exact closed-day list to
                  2023-02-19), xtai (exchange-calendars 4.13.2 XTAI rules, Apache-2.0), or
                  correction (published TWSE closures that XTAI misses; see CORRECTIONS)
The industry table (industries.csv) is maintained by hand (TWSE's classification; docs/data.md §3.2).
"""
import ast
import csv
import datetime as dt
import pathlib
import re
import sys

BOARDS = {"上市": "TWSE", "上市臺灣創新板": "TIB", "上櫃": "TPEx"}
# twstock group names -> TWSE industry code (datasets/industries.csv; docs/data.md §3.2).
GROUPS = {
    "水泥工業": "01", "食品工業": "02", "塑膠工業": "03", "紡織纖維": "04", "電機機械": "05",
    "電器電纜": "06", "玻璃陶瓷": "08", "造紙工業": "09", "鋼鐵工業": "10", "橡膠工業": "11",
    "汽車工業": "12", "建材營造業": "14", "航運業": "15", "觀光餐旅": "16", "金融保險業": "17",
    "貿易百貨業": "18", "其他業": "20", "化學工業": "21", "生技醫療業": "22", "油電燃氣業": "23",
    "半導體業": "24", "電腦及週邊設備業": "25", "光電業": "26", "通信網路業": "27",
    "電子零組件業": "28", "電子通路業": "29", "資訊服務業": "30", "其他電子業": "31",
    "文化創意業": "32", "農業科技業": "33", "電子商務": "34", "綠能環保": "35", "數位雲端": "36",
    "運動休閒": "37", "居家生活": "38",
}
TEJ_END = dt.date(2023, 2, 19)
END = dt.date(2026, 12, 31)
# Closures published by TWSE that XTAI 4.13.2 gets wrong (docs/data.md §3.3):
# False = no session that day, True = a session XTAI lacks.
CORRECTIONS = {
    dt.date(2024, 10, 31): False,  # typhoon closure
    dt.date(2025, 9, 29): False,   # Teacher's Day (observed)
    dt.date(2025, 10, 24): False,  # Retrocession Day (observed)
    dt.date(2025, 12, 25): False,  # Constitution Day
    dt.date(2026, 7, 10): False,   # typhoon closure
}


def securities(src: pathlib.Path, out: pathlib.Path) -> None:
    rows = []
    codes = src / "twstock" / "twstock" / "codes"
    for name in ("twse_equities.csv", "tpex_equities.csv"):
        with open(codes / name, encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r["type"] not in ("股票", "創新板") or r["market"] not in BOARDS:
                    continue
                code = r["code"].strip()
                if not re.fullmatch(r"[1-9]\d{3}", code):
                    continue
                listed = dt.datetime.strptime(r["start"].strip(), "%Y/%m/%d").date()
                rows.append((code, r["name"].strip(), BOARDS[r["market"]],
                             GROUPS[r["group"].strip()], listed.isoformat()))
    rows.sort()
    with open(out / "securities.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name", "board", "industry", "listed"])
        w.writerows(rows)
    print(f"securities.csv: {len(rows)} common stocks")


def tej_closed(src: pathlib.Path) -> set:
    path = next((src / "tej_exchange_calendars").glob("*/exchange_calendar_tejxtai.py"))
    text = path.read_text(encoding="utf-8")
    dates = re.findall(r'"(\d{4}-\d{2}-\d{2})"', text)
    return {dt.date.fromisoformat(d) for d in dates}


def calendar(src: pathlib.Path, out: pathlib.Path) -> None:
    closed = tej_closed(src)
    rows = []
    d = dt.date(2005, 1, 1)
    while d <= TEJ_END:
        if d not in closed:
            rows.append((d, "tej"))
        d += dt.timedelta(days=1)
    import exchange_calendars as xcals  # only needed for the years after the TEJ list

    xtai = xcals.get_calendar("XTAI", start="2023-01-01", end=END.isoformat())
    sessions = {s.date() for s in xtai.sessions}
    d = TEJ_END + dt.timedelta(days=1)
    while d <= END:
        fix = CORRECTIONS.get(d)
        if fix is True or (fix is None and d in sessions):
            rows.append((d, "xtai" if fix is None else "correction"))
        d += dt.timedelta(days=1)
    with open(out / "calendar.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["date", "source"])
        w.writerows((d.isoformat(), s) for d, s in rows)
    per_year = {}
    for d, _ in rows:
        per_year[d.year] = per_year.get(d.year, 0) + 1
    print(f"calendar.csv: {len(rows)} sessions; per year {per_year}")


if __name__ == "__main__":
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    securities(src, out)
    calendar(src, out)
