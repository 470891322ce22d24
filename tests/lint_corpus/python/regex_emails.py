import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
text = """Contact ada@example.com or grace.hopper@navy.mil, not bob@invalid"""
found = EMAIL.findall(text)
print(found)
print(re.sub(r"@\S+", "@...", text))
