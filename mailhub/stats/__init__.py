"""What a programme shows its funders: a group's figures over any period (figures), and the
monthly one-page impact report built from them (report, chart)."""
