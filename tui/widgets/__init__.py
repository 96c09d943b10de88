"""Reusable widgets: they show what they are given and post messages up."""
