using RlGaf.Workbench.Services;

namespace RlGaf.Workbench.Tests.Unit;

public class ResultsMarkdownTests
{
    [Fact]
    public void Tables_headings_text_and_plot_images_become_blocks()
    {
        var blocks = ResultsMarkdown.Parse("""
            # Results: imdb

            Protocol: **equal compute** with the cache in `models/`
            over two lines.

            ## Per method

            | method | a\|b | collapse |
            | --- | :---: | --- |
            | sft | 0.5 ± 0.1 | 0/2 |
            | ppo | - | 1/2 |

            ![quality-diversity](quality-diversity.png)
            """);
        Assert.Collection(blocks,
            b => Assert.Equal(1, Assert.IsType<HeadingBlock>(b).Level),
            b =>
            {
                var p = Assert.IsType<ParagraphBlock>(b);
                Assert.Equal(new[] { InlineKind.Text, InlineKind.Bold, InlineKind.Text, InlineKind.Code, InlineKind.Text }, p.Text.Select(i => i.Kind));
                Assert.Equal("equal compute", p.Text[1].Text);
                Assert.Equal(" over two lines.", p.Text[4].Text); // lines of a paragraph join with a space
            },
            b => Assert.Equal("Per method", Assert.IsType<HeadingBlock>(b).Text.Single().Text),
            b =>
            {
                var t = Assert.IsType<TableBlock>(b);
                Assert.Equal(new[] { "method", "a|b", "collapse" }, t.Header.Select(c => c.Single().Text));
                Assert.Equal(2, t.Rows.Count);
                Assert.Equal(new[] { "ppo", "-", "1/2" }, t.Rows[1].Select(c => c.Single().Text));
            },
            b => Assert.Equal(new ImageBlock("quality-diversity", "quality-diversity.png"), b));
    }

    [Fact]
    public void Markup_and_images_from_elsewhere_stay_text()
    {
        var blocks = ResultsMarkdown.Parse("<script>alert(1)</script>\n\n![x](https://example.org/x.png)\n\n![y](../../secret.png)\n\n![z](sub/z.png)");
        Assert.All(blocks, b => Assert.IsType<ParagraphBlock>(b));
        Assert.Equal("<script>alert(1)</script>", ((ParagraphBlock)blocks[0]).Text.Single().Text); // rendered encoded by Blazor
    }

    [Fact]
    public void CommonMark_lists_code_and_consecutive_plots_read_as_Markdig_parses_them()
    {
        var blocks = ResultsMarkdown.Parse("""
            Diagnosis:

            - the discriminator wins at step **40**
            - `d_steps` 2 helps

            ```
            RlGaf.Workbench eval --suite imdb
            ```

            ![curves-a](curves-a.png)
            ![curves-b](curves-b.png)

            <img src=x onerror=alert(1)> and ![far](https://example.org/x.png)
            """);
        Assert.Equal("Diagnosis:", Assert.IsType<ParagraphBlock>(blocks[0]).Text.Single().Text);
        var item = Assert.IsType<ParagraphBlock>(blocks[1]);
        Assert.Equal(["• ", "the discriminator wins at step ", "40"], item.Text.Select(i => i.Text));
        Assert.Equal(InlineKind.Bold, item.Text[2].Kind);
        Assert.Equal(InlineKind.Code, Assert.IsType<ParagraphBlock>(blocks[2]).Text[1].Kind);
        Assert.Equal("RlGaf.Workbench eval --suite imdb", Assert.IsType<ParagraphBlock>(blocks[3]).Text.Single().Text.Trim());
        Assert.Equal(new ImageBlock("curves-a", "curves-a.png"), blocks[4]);
        Assert.Equal(new ImageBlock("curves-b", "curves-b.png"), blocks[5]);
        // Raw HTML is text (Markdig's DisableHtml), and an image from elsewhere stays text beside it.
        var last = Assert.IsType<ParagraphBlock>(blocks[6]);
        Assert.All(last.Text, i => Assert.Equal(InlineKind.Text, i.Kind));
        Assert.Contains("<img src=x onerror=alert(1)>", string.Concat(last.Text.Select(i => i.Text)));
        Assert.Equal(7, blocks.Count);
    }

    [Fact]
    public void Unmatched_markers_are_literal()
    {
        Assert.Equal("a `b and **c", string.Concat(ResultsMarkdown.Inlines("a `b and **c").Select(i => i.Text)));
        Assert.All(ResultsMarkdown.Inlines("a `b and **c"), i => Assert.Equal(InlineKind.Text, i.Kind));
    }

    [Theory]
    [InlineData("synthetic-reviews", 3, 6, 120, "about 1 h")]
    [InlineData("synthetic-reviews", 1, 1, 120, "about 5 min")]
    [InlineData("synthetic-reviews", 3, 6, 200, "about 1 h 35 min")]
    public void The_expected_time_scales_from_the_hour_of_the_full_synthetic_suite(string suite, int seeds, int methods, int steps, string expected) =>
        Assert.Equal(expected, ExperimentEstimate.Describe(ExperimentEstimate.Minutes(suite, seeds, methods, steps)!.Value));

    [Fact]
    public void Suites_on_real_data_have_no_estimate()
    {
        Assert.Null(ExperimentEstimate.Minutes("imdb", 3, 6, 120));
        Assert.Null(ExperimentEstimate.Minutes("synthetic-reviews", 0, 6, 120));
    }
}
