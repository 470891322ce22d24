from datetime import date, datetime, timedelta

start = date(2024, 1, 1)
end = date.fromisoformat("2024-12-25")
print((end - start).days, "days")
weekdays = sum(1 for i in range((end - start).days) if (start + timedelta(days=i)).weekday() < 5)
print(weekdays, "weekdays")
print(datetime(2024, 3, 1, 12, 30).strftime("%A %d %B %Y %H:%M"))
