"""Every text a person receives, in their language: the shipped languages and who reads which
(languages), the gettext catalogs and the template environments that use them (catalogs), and the
words people command in (words)."""
