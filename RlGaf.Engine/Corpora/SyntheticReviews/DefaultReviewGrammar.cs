namespace RlGaf.Engine.Corpora.SyntheticReviews;

/// <summary>
/// The built-in review grammar. Structure (docs/synthetic-reviews.md):
/// Review -> Review.pos | Review.neg (50/50); Review.s -> Opening.s Body.s Verdict.s, where the
/// body is zero, one or two middle sentences. Opening and verdict always carry the review's
/// sentiment; a middle sentence may contrast ("The score was lovely, but the plot was a mess.")
/// where the clause after "but" carries the review's sentiment. Every sentence ends in "." or
/// "!" and no sentence contains one inside, so the sentences of a review split uniquely; within
/// a sentence, word lists of different slots are disjoint, which keeps the grammar unambiguous.
/// </summary>
internal static class DefaultReviewGrammar
{
    public static Pcfg Build()
    {
        var g = new GrammarBuilder();

        g.Rule("Review", (1, "<Review.pos>"), (1, "<Review.neg>"));
        g.SentimentRule("Review", (1, "<Opening.{s}> <Body.{s}> <Verdict.{s}>"));
        g.SentimentRule("Body", (2, ""), (6, "<Mid.{s}>"), (2, "<Mid.{s}> <Mid.{s}>"));

        // Opening sentence: the overall impression, always in the review's sentiment.
        g.SentimentRule("Opening",
            (3, "what a <FilmAdj.{s}> <Film> !"),
            (3, "I <Degree> <LoveVerb.{s}> this <Film> ."),
            (3, "this <Film> <IsWas> <Degree> <FilmAdj.{s}> ."),
            (2, "this <Film> is a <FilmNoun.{s}> ."),
            (1, "not a <NotAdj.{s}> <Film> at all ."),
            (2, "<Clause.{o}> , but <Clause.{s}> ."));

        // Middle sentences: aspects of the film, possibly contrasting; the last clause agrees.
        g.SentimentRule("Mid",
            (3, "<Clause.{s}> ."),
            (1, "<Clause.{s}> , and <Clause.{s}> ."),
            (2, "<Clause.{o}> , but <Clause.{s}> ."),
            (1, "although <Clause.{o}> , <Clause.{s}> ."),
            (1, "<Experience.{s}> ."),
            (1, "<Neutral> ."));

        // Clauses: number agreement between the aspect noun and the verb.
        g.SentimentRule("Clause",
            (6, "the <AspectSg> was <Adv> <AspectAdj.{s}>"),
            (4, "the <AspectPl> were <Adv> <AspectAdj.{s}>"),
            (2, "the <AspectSg> was a <FilmNoun.{s}>"));

        // Verdict: the closing recommendation, in the review's sentiment.
        g.SentimentRule("Verdict", (1, "<VerdictBody.{s}> <End.{s}>"));
        g.Rule("End.pos", (2, "."), (1, "!"));
        g.Rule("End.neg", (3, "."), (1, "!"));
        g.Rule("VerdictBody.pos",
            (3, "a must-see"), (3, "highly recommended"), (2, "go see it"), (2, "do not miss it"),
            (3, "<Rating.pos> out of ten"), (2, "I would watch it again"),
            (1, "overall , the good outweighs the bad"), (2, "two thumbs up"), (2, "worth every minute"));
        g.Rule("VerdictBody.neg",
            (3, "skip it"), (3, "not recommended"), (2, "a total waste of time"), (2, "avoid it"),
            (3, "<Rating.neg> out of ten"), (2, "I would not watch it again"),
            (1, "overall , the bad outweighs the good"), (2, "two thumbs down"), (2, "do not bother"));
        g.Words("Rating.pos", "seven|eight|nine|ten");
        g.Words("Rating.neg", "zero|one|two|three");

        g.Words("Experience.pos",
            "it kept me on the edge of my seat|the time flew by|I laughed from start to finish|" +
            "every scene felt fresh|I was moved to tears|I want to see it again");
        g.Words("Experience.neg",
            "it put me to sleep|the time dragged|I checked my watch the whole time|" +
            "every scene felt stale|I almost walked out|I want those two hours back");
        g.Rule("Neutral", (2, "I saw it <When>"), (1, "it is based on a <Source>"), (1, "it runs about <Duration>"));
        g.Words("When", "last night|at home|in a theater|with a friend|with my family|on a rainy day");
        g.Words("Source", "novel|true story|play|comic book|video game");
        g.Words("Duration", "two hours|ninety minutes|three hours");

        // Word lists. The .pos and .neg lists of a slot are disjoint.
        g.Words("Film", "film|movie|picture|comedy|drama|thriller|sequel|remake");
        g.Rule("IsWas", (1, "is"), (1, "was"));
        g.Rule("Degree", (6, ""), (1, "really"), (1, "truly"), (1, "absolutely"));
        g.Rule("Adv", (8, ""), (1, "really"), (1, "truly"), (1, "very"), (1, "quite"), (1, "simply"),
            (1, "so"), (1, "rather"), (1, "pretty"));
        g.Words("FilmAdj.pos",
            "wonderful|delightful|beautiful|brilliant|charming|great|lovely|moving|stunning|terrific|" +
            "fun|clever|gorgeous|powerful");
        g.Words("FilmAdj.neg",
            "dreadful|boring|tedious|terrible|dull|lousy|painful|silly|bland|clumsy|lazy|dire|messy|forgettable");
        g.Words("LoveVerb.pos", "loved|enjoyed|adored|could not stop watching");
        g.Words("LoveVerb.neg", "hated|disliked|did not enjoy|could not finish");
        g.Words("FilmNoun.pos", "gem|triumph|delight|joy|treat|masterpiece");
        g.Words("FilmNoun.neg", "mess|disaster|bore|letdown|chore|failure");
        g.Words("NotAdj.pos", "bad|dull|boring");
        g.Words("NotAdj.neg", "good|great|fun");
        g.Words("AspectSg",
            "acting|plot|script|story|score|soundtrack|dialogue|ending|pacing|direction|cinematography|" +
            "cast|lead|villain|humor|editing|camera work|lighting|premise|setting");
        g.Words("AspectPl",
            "performances|characters|visuals|effects|jokes|action scenes|twists|costumes|songs|sets|" +
            "fight scenes|lines");
        g.Words("AspectAdj.pos",
            "superb|brilliant|wonderful|gripping|moving|lovely|excellent|stunning|clever|charming|terrific|" +
            "fantastic|solid|strong|beautiful|sharp|fresh|delightful|memorable|flawless");
        g.Words("AspectAdj.neg",
            "dull|weak|awful|terrible|clumsy|flat|boring|lifeless|forgettable|bland|messy|poor|lazy|" +
            "tedious|painful|wooden|dreadful|predictable|silly|stale");

        return g.Build("Review");
    }
}
