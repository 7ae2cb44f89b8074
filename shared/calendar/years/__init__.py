"""Year schedules shipped with govit, one ``<year>.toml`` each (format: ``../schedule.py``).

Empty while ``chinese-calendar`` covers every year whose schedule has been announced.
Add a file only from a published State Council notice; never guess a year. This is a
package so that its ``*.toml`` files are installed as package data.
"""
