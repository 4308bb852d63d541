"""The words mail clients write around a reply, in the languages mailhub's members use: English,
French, Spanish, Portuguese, Arabic, Swahili, German, Dutch, Italian, Polish, Swedish, Danish,
Norwegian, Finnish, Turkish, Russian, Japanese and Chinese (and Czech, Hungarian, Catalan where
they cost one word).

Only data lives here; `strip.py` builds its patterns from it. Each list is what Gmail, Outlook
(desktop, web, mobile), Apple Mail, Thunderbird, Yahoo and Samsung Email put in a plain-text reply
in that language. Add a word to the list it belongs to; the fixtures in tests/data/replies_i18n/
show the shapes in context. Matching ignores case, so write each word once, in lower case.
"""
from __future__ import annotations

# Verbs (and verb phrases) that end an attribution, or stand before the author's name where the
# language puts it last ("Am … schrieb Hans <h@x.de>:", "في … كتب Layla <l@x>:").
WROTE = (
    "wrote", "writes", "a écrit", "écrit", "schrieb", "geschrieben", "schreef", "geschreven",
    "escribió", "escribio", "escreveu", "ha scritto", "scritto", "scrive", "skrev", "pisze",
    "napisał(a)", "napisała", "napisał", "napisal", "napisana przez", "napsal(a)", "napsal",
    "написал(-а)", "написал(а)", "написала", "написал", "пишет", "kirjoitti", "írta", "yazdı",
    "كتب", "كتابة", "aliandika", "ameandika", "va escriure", "đã viết",
)
# Verbs of languages written without spaces: they may touch the date before them ("20:42写道：").
WROTE_UNSPACED = ("写道", "寫道", "書きました", "のメール", "님이 작성")

# Words that open an attribution: "On …", "Le …", "W dniu …", "في …", "在 …".
INTRO = (
    "on", "at", "le", "am", "op", "el", "em", "il", "il giorno", "in data", "den", "dnia", "w dniu",
    "dne", "às", "på", "mnamo", "tarehe", "vào", "wiadomość napisana przez", "في", "在",
)

# Outlook's header block above the message answered ("From: / Sent: / To: / Subject:"), and the
# same block under Samsung's, Yahoo's or QQ Mail's "Original message" line. FROM names the sender.
FROM = (
    "from", "von", "de", "van", "da", "från", "fran", "od", "fra", "от", "lähettäjä", "feladó",
    "kimden", "gönderen", "من", "差出人", "送信者", "发件人", "寄件者", "由", "kutoka", "expéditeur",
    "remitente", "remetente", "mittente", "avsändare", "afsender", "avsender", "nadawca", "отправитель",
)
HEADER = (
    # en
    "sent", "date", "to", "cc", "bcc", "subject", "reply-to",
    # de, fr, nl
    "gesendet", "datum", "an", "betreff", "envoyé", "à", "a", "objet", "verzonden", "aan", "onderwerp",
    # es, pt, it
    "enviado", "enviado el", "enviado em", "enviada", "enviada em", "fecha", "para", "asunto", "assunto",
    "data", "inviato", "oggetto", "ccn",
    # sv, da, no, fi
    "skickat", "till", "ämne", "kopia", "sendt", "til", "emne", "dato", "kopi", "lähetetty",
    "vastaanottaja", "aihe", "kopio", "päivämäärä",
    # pl, cs, tr, ru
    "wysłano", "do", "temat", "dw", "odesláno", "komu", "předmět", "kopie", "gönderildi", "kime", "konu",
    "bilgi", "tarih", "alıcı", "отправлено", "дата", "кому", "тема", "копия",
    # ja, zh
    "送信日時", "宛先", "件名", "日付", "发送时间", "收件人", "主题", "抄送", "日期", "至", "时间",
    # ar, sw
    "تم الإرسال", "أرسل", "أرسلت", "التاريخ", "تاريخ الإرسال", "إلى", "الموضوع", "نسخة", "imetumwa",
    "tarehe", "kwa", "mada", "nakala", "kichwa",
)

# "-----Original Message-----" and what Outlook, Thunderbird and Samsung Email write instead.
ORIGINAL_MESSAGE = (
    "original message", "reply message", "ursprüngliche nachricht", "message d'origine", "message d’origine",
    "message original", "mensaje original", "oorspronkelijk bericht", "origineel bericht",
    "messaggio originale", "mensagem original", "ursprungligt meddelande", "originalmeddelande",
    "oprindelig meddelelse", "oprindelig besked", "opprinnelig melding", "opprinnelig e-post",
    "wiadomość oryginalna", "oryginalna wiadomość", "původní zpráva", "alkuperäinen viesti",
    "özgün ileti", "orijinal mesaj", "orijinal ileti", "исходное сообщение", "оригинальное сообщение",
    "元のメッセージ", "オリジナルメッセージ", "原始邮件", "原始信息", "原始郵件", "原郵件", "الرسالة الأصلية",
    "ujumbe asili", "ujumbe wa asili",
)
# Forwards: the forwarder's words above stay; the forwarded message goes.
FORWARDED = (
    "forwarded message", "weitergeleitete nachricht", "message transféré", "mensaje reenviado",
    "doorgestuurd bericht", "messaggio inoltrato", "mensagem encaminhada", "mensagem reencaminhada",
    "vidarebefordrat meddelande", "videresendt meddelelse", "videresendt besked", "videresendt melding",
    "wiadomość przekazana dalej", "wiadomość przekazana", "přeposlaná zpráva", "välitetty viesti",
    "iletilen ileti", "yönlendirilmiş ileti", "пересылаемое сообщение", "пересланное сообщение",
    "転送されたメッセージ", "転送メッセージ", "转发的邮件", "轉寄的郵件", "الرسالة المُعاد توجيهها",
    "الرسالة المعاد توجيهها", "ujumbe uliosambazwa",
)
FORWARD_INTRO = (
    "begin forwarded message", "début du message réexpédié", "début du message transféré",
    "anfang der weitergeleiteten nachricht", "anfang der weitergeleiteten e-mail",
    "inicio del mensaje reenviado", "begin doorgestuurd bericht", "inizio messaggio inoltrato",
    "início da mensagem reencaminhada", "início da mensagem encaminhada", "vidarebefordrat brev",
    "videresendt brev", "początek przekazywanej wiadomości", "początek przekazanej wiadomości",
    "välitetty viesti alkaa", "iletilen mesajın başlangıcı", "начало переадресованного сообщения",
    "転送されたメッセージ", "转发的邮件开始",
)

# Phone and app footers ("Sent from my iPhone", "Von meinem/meiner Galaxy gesendet", "iPhoneから
# 送信"): a short line that starts or ends with one of these and names a device or an app.
FOOTER_VERBS = (
    "sent", "envoyé", "envoye", "enviado", "enviada", "gesendet", "verzonden", "verstuurd", "inviato",
    "wysłane", "wysłano", "wyslane", "wyslano", "skickat", "sendt", "lähetetty", "gönderildi", "отправлено",
    "odesláno", "odeslano", "imetumwa",
    "أرسلت", "أُرسلت", "تم الإرسال", "送信", "发自", "发送", "傳送", "get", "hent", "skaffa", "hanki",
    "få", "hämta", "beziehen", "herunterladen", "obtenir", "télécharger", "obtener", "obter", "scarica",
    "pobierz", "downloaden", "download", "edinin", "получить", "入手", "获取", "احصل", "pata",
    "von meinem", "von meiner", "von meinem/meiner",
)
DEVICES = (
    "iphone", "ipad", "ios", "android", "galaxy", "samsung", "blackberry", "outlook", "yahoo", "huawei",
    "xiaomi", "pixel", "mobile", "windows", "gmail", "aol", "proton", "spark", "airmail", "sparrow",
    "mobilgerät", "handy", "smartphone", "スマートフォン", "手机",
)

# Sign-offs, said as the whole line (trailing punctuation aside), or before a name ("Mvh Lars").
# The THANKS kind is also how a sentence can end, so it counts only with a name after it or a
# comma ("Thanks," / "Thanks, Bob" / "t. Mikko").
SIGN_OFFS = (
    # en
    "regards", "kind regards", "best regards", "warm regards", "warmest regards", "kindest regards",
    "best", "best wishes", "all the best", "cheers", "sincerely", "yours", "yours sincerely",
    "yours truly", "take care", "warmly", "respectfully",
    # fr
    "cordialement", "bien cordialement", "très cordialement", "bien à vous", "bien à toi", "amicalement",
    "bonne journée", "bonne soirée", "salutations", "sincères salutations", "bises",
    # es, pt, it
    "saludos", "un saludo", "saludos cordiales", "atentamente", "cordialmente", "un abrazo", "abrazos",
    "atenciosamente", "abraços", "abraço", "um abraço", "abs", "att", "cumprimentos",
    "com os melhores cumprimentos", "saudações", "beijos", "cordiali saluti", "distinti saluti", "saluti",
    "un saluto", "un caro saluto", "un abbraccio",
    # de, nl
    "mit freundlichen grüßen", "mit freundlichen grüssen", "freundliche grüße", "viele grüße",
    "beste grüße", "liebe grüße", "herzliche grüße", "schöne grüße", "grüße", "gruß", "lg", "vg", "mfg",
    "met vriendelijke groet", "met vriendelijke groeten", "vriendelijke groet", "hartelijke groet",
    "groeten", "groetjes", "groet", "mvg",
    # pl, sv, da, no, fi
    "pozdrawiam", "pozdrawiam serdecznie", "serdecznie pozdrawiam", "z poważaniem", "pozdrowienia",
    "z wyrazami szacunku", "med vänliga hälsningar", "vänliga hälsningar", "hälsningar",
    "bästa hälsningar", "mvh", "med venlig hilsen", "venlig hilsen", "hilsen", "de bedste hilsner",
    "bedste hilsner", "kærlig hilsen", "kh", "med vennlig hilsen", "vennlig hilsen", "beste hilsen",
    "ystävällisin terveisin", "terveisin", "parhain terveisin", "kiittäen",
    # tr, ru
    "saygılarımla", "saygılar", "iyi çalışmalar", "sevgiler", "selamlar", "с уважением",
    "с наилучшими пожеланиями", "всего доброго", "всего хорошего",
    # ar, sw
    "مع تحياتي", "تحياتي", "مع خالص التحية", "مع أطيب التحيات", "wako", "wako mtiifu", "kila la heri",
    "salamu", "wasalaam", "wasalam",
    # cs, hu
    "s pozdravem", "s úctou", "srdečně", "üdvözlettel", "udvozlettel", "üdv", "tisztelettel",
    # ja, zh
    "よろしくお願いします", "よろしくお願いいたします", "よろしくお願い致します", "宜しくお願いします",
    "宜しくお願い致します", "以上、よろしくお願いします", "以上、よろしくお願いいたします", "以上、宜しくお願い致します",
    "どうぞよろしくお願いいたします", "祝好", "此致", "此致敬礼", "敬礼", "顺祝商祺", "祝一切顺利", "祝工作顺利",
)
THANKS = (
    "thanks", "thank you", "thanks again", "thanks so much", "thank you so much", "many thanks",
    "merci", "merci beaucoup", "gracias", "muchas gracias", "obrigado", "obrigada", "muito obrigado",
    "muito obrigada", "grazie", "grazie mille", "danke", "vielen dank", "bedankt", "dank je", "dank u",
    "dzięki", "dziękuję", "tack", "tack så mycket", "tak", "takk", "kiitos", "teşekkürler",
    "teşekkür ederim", "спасибо", "заранее спасибо", "شكرا", "شكراً", "وشكرا", "مع الشكر", "asante",
    "asante sana", "děkuji", "köszönöm", "ありがとうございます", "ありがとうございました", "谢谢", "多谢", "love", "see you",
    "talk soon", "à bientôt", "bis bald", "a presto", "hasta pronto",
    # abbreviations that sign only before a name ("t. Mikko", "BR, Bob")
    "t", "br", "rgds",
)
