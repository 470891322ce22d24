import textwrap

LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua.")
for width in (20, 40):
    print(textwrap.fill(LOREM, width=width))
    print("-" * width)
print(textwrap.shorten(LOREM, 30))
