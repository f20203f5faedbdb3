<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN" sourcelanguage="en">
<context>
    <name>AboutDialog</name>
    <message>
        <location filename="../../wizard/gui/about.py" line="74"/>
        <location filename="../../wizard/gui/about.py" line="75"/>
        <source>About ShareGPT4V data setup</source>
        <translation>关于 ShareGPT4V 数据准备</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="78"/>
        <source>About sections</source>
        <translation>“关于”的各个部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="79"/>
        <source>About this application</source>
        <translation>关于本程序</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="80"/>
        <source>Bundled components and their licenses</source>
        <translation>附带的组件及其许可证</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="81"/>
        <source>Licenses of the data</source>
        <translation>数据的许可条款</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="82"/>
        <source>&amp;About</source>
        <translation>关于(&amp;A)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="83"/>
        <source>&amp;Components</source>
        <translation>组件(&amp;C)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="84"/>
        <source>&amp;Data</source>
        <translation>数据(&amp;D)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="85"/>
        <source>License &amp;texts</source>
        <translation>许可证全文(&amp;T)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="92"/>
        <source>Application icon</source>
        <translation>程序图标</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="93"/>
        <source>&lt;b&gt;ShareGPT4V data setup&lt;/b&gt;&lt;br&gt;Version {version}</source>
        <translation>&lt;b&gt;ShareGPT4V 数据准备&lt;/b&gt;&lt;br&gt;版本 {version}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="95"/>
        <source>Application name and version</source>
        <translation>程序名称和版本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="102"/>
        <source>About &amp;Qt</source>
        <translation>关于 Qt(&amp;Q)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="103"/>
        <location filename="../../wizard/gui/about.py" line="217"/>
        <source>About Qt</source>
        <translation>关于 Qt</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="124"/>
        <source>Downloads, checks, extracts and lays out the ShareGPT4V training data, resumably.</source>
        <translation>下载、校验、解压并按目录结构整理 ShareGPT4V 训练数据，可断点续传。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="125"/>
        <source>This application is free software under the Apache License 2.0 (see License texts).</source>
        <translation>本程序是自由软件，以 Apache License 2.0 发布（见“许可证全文”）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="126"/>
        <source>Running on Python {python}, Qt {qt} and PySide6 {pyside}.</source>
        <translation>运行环境：Python {python}、Qt {qt}、PySide6 {pyside}。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="130"/>
        <source>About the data: {link}</source>
        <translation>关于数据：{link}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="141"/>
        <source>Component</source>
        <translation>组件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="141"/>
        <source>Version</source>
        <translation>版本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="141"/>
        <source>License</source>
        <translation>许可证</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="143"/>
        <source>Qt and PySide6 are used under the GNU Lesser General Public License version 3 (LGPL-3.0), unmodified and dynamically linked: you may replace them with your own build. The license text is under License texts. Their source code is available at:</source>
        <translation>Qt 和 PySide6 依据 GNU 宽通用公共许可证第 3 版（LGPL-3.0）使用，未经修改且以动态链接方式加载：您可以用自己构建的版本替换它们。许可证全文见“许可证全文”。其源代码可从以下地址获取：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="151"/>
        <source>Every library bundled with this build and its license: see Third-party notices under License texts.</source>
        <translation>本版本附带的所有库及其许可证：见“许可证全文”中的“第三方声明”。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="155"/>
        <source>The data is not part of this application: each source has its own terms, which apply to what you download with it.</source>
        <translation>数据不属于本程序：每个来源都有各自的条款，适用于您从该来源下载的内容。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="168"/>
        <source>Applies to: {names}</source>
        <translation>适用于：{names}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="175"/>
        <source>Apache License 2.0 (this application)</source>
        <translation>Apache License 2.0（本程序）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="176"/>
        <source>GNU LGPL 3.0 (Qt, PySide6)</source>
        <translation>GNU LGPL 3.0（Qt、PySide6）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="177"/>
        <source>GNU GPL 3.0 (referenced by the LGPL 3.0)</source>
        <translation>GNU GPL 3.0（LGPL 3.0 引用）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="178"/>
        <source>Qt and PySide6: source code</source>
        <translation>Qt 和 PySide6：源代码</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="179"/>
        <source>Third-party notices</source>
        <translation>第三方声明</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="186"/>
        <source>License to show</source>
        <translation>要显示的许可证</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="192"/>
        <source>License text</source>
        <translation>许可证全文</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/about.py" line="193"/>
        <source>&amp;Show:</source>
        <translation>显示(&amp;S)：</translation>
    </message>
</context>
<context>
    <name>App</name>
    <message>
        <location filename="../../wizard/gui/app.py" line="126"/>
        <source>Problem</source>
        <extracomment>The rest of the wizard is built after the first paint, or after this many ms if the window is not painted by then (it opened minimised or hidden).</extracomment>
        <translation>问题</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/app.py" line="166"/>
        <source>Cannot start</source>
        <translation>无法启动</translation>
    </message>
</context>
<context>
    <name>ComponentsPage</name>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="95"/>
        <source>What to prepare</source>
        <translation>要准备的内容</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="96"/>
        <source>Pick a preset for the training stage you want, or choose the parts yourself. Sizes marked ≈ are estimates.</source>
        <translation>为您要进行的训练阶段选择一个预设，或自行挑选各个部分。标有 ≈ 的大小为估计值。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="98"/>
        <source>Preset</source>
        <translation>预设</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="103"/>
        <source>C&amp;ustom selection</source>
        <translation>自定义选择(&amp;U)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="104"/>
        <source>Custom selection</source>
        <translation>自定义选择</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="105"/>
        <source>Components</source>
        <translation>组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="106"/>
        <source>Component</source>
        <translation>组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="106"/>
        <source>Download</source>
        <translation>下载大小</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="106"/>
        <source>On disk</source>
        <translation>占用磁盘</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="107"/>
        <source>Host</source>
        <translation>来源主机</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="107"/>
        <source>Terms</source>
        <translation>使用条款</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="117"/>
        <source>Totals</source>
        <translation>合计</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="118"/>
        <source>Disk budget</source>
        <translation>磁盘空间预算</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="119"/>
        <source>Start &amp;anyway (I will free space)</source>
        <translation>仍然开始(&amp;A)（我会腾出空间）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="120"/>
        <source>Start anyway although the plan does not fit</source>
        <translation>即使空间不足也开始</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="125"/>
        <source>Full &amp;pretraining (ShareGPT4V-PT, 1246K captions, all 51 SAM tars)</source>
        <translation>完整预训练(&amp;P)（ShareGPT4V-PT，1246K 条描述，全部 51 个 SAM tar 包）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="126"/>
        <source>SF&amp;T only, with the 9K SAM subset (mix665k)</source>
        <translation>仅 SFT 微调(&amp;T)，使用 9K SAM 子集（mix665k）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="127"/>
        <source>ShareGPT4V-100K &amp;captions</source>
        <translation>ShareGPT4V-100K 描述(&amp;C)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="128"/>
        <source>&amp;Everything</source>
        <translation>全部内容(&amp;E)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="108"/>
        <source>Annotations (caption JSONs)</source>
        <translation>标注（描述 JSON 文件）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="108"/>
        <source>Images</source>
        <translation>图像</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="170"/>
        <source>§ terms</source>
        <translation>§ 条款</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="172"/>
        <source>{id} → {target}</source>
        <translation>{id} → {target}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="174"/>
        <source>The offline demo does not serve this part yet.</source>
        <translation>离线演示暂不提供这一部分。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="35"/>
        <source>Meta (signed links)</source>
        <extracomment>Rows of the tree always in view (the page scrolls when the window is shorter). The phrases source kinds show instead of a host name, marked for the translation tools.</extracomment>
        <translation>Meta（签名链接）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="36"/>
        <source>local copy</source>
        <translation>本地副本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="188"/>
        <source>{host} (not supported by this version yet)</source>
        <translation>{host}（此版本尚不支持）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="271"/>
        <source>Reading the annotation JSONs already in this folder…</source>
        <translation>正在读取此文件夹中已有的标注 JSON…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="277"/>
        <source>Nothing selected yet.</source>
        <translation>尚未选择任何内容。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="282"/>
        <source>{n} selected: download {download}, disk at peak {peak}, at the end {final}; {free} free.</source>
        <translation>已选 {n} 项：下载 {download}，磁盘峰值占用 {peak}，完成后占用 {final}；剩余空间 {free}。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="288"/>
        <source>{k} already in place.</source>
        <translation>其中 {k} 项已就绪。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/components.py" line="296"/>
        <source>Not enough space on {root}: this selection needs up to {need} at its peak, but only {free} is free. Free some space, choose fewer parts or another root.</source>
        <translation>{root} 空间不足：此选择在峰值时最多需要 {need}，但只剩 {free}。请腾出空间、少选一些部分或换一个数据根目录。</translation>
    </message>
</context>
<context>
    <name>DemoBanner</name>
    <message>
        <location filename="../../wizard/gui/widgets.py" line="201"/>
        <source>Offline demo: a miniature copy of the data served from this computer (127.0.0.1). Nothing is downloaded from the internet.</source>
        <translation>离线演示：数据的微缩副本由本机（127.0.0.1）提供，不会从互联网下载任何内容。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/widgets.py" line="206"/>
        <source>Demo mode notice</source>
        <translation>演示模式提示</translation>
    </message>
</context>
<context>
    <name>FinishPage</name>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="98"/>
        <source>Finished</source>
        <extracomment>Result rows shown before the list scrolls (the page itself scrolls on small screens).</extracomment>
        <translation>已完成</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="99"/>
        <source>Results per component</source>
        <translation>各部分的结果</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="100"/>
        <source>Component</source>
        <translation>组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="100"/>
        <source>Result</source>
        <translation>结果</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="100"/>
        <source>Details</source>
        <translation>详情</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="101"/>
        <source>Give training this folder:</source>
        <translation>训练时请使用此文件夹：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="102"/>
        <source>Training argument for the image folder</source>
        <translation>训练用的图像文件夹参数</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="103"/>
        <source>Cop&amp;y</source>
        <translation>复制(&amp;Y)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="104"/>
        <source>Copy the training argument</source>
        <translation>复制训练参数</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="105"/>
        <source>O&amp;pen folder</source>
        <translation>打开文件夹(&amp;P)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="106"/>
        <source>Open the data root in the file manager</source>
        <translation>在文件管理器中打开数据根目录</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="107"/>
        <source>Open folder result</source>
        <translation>打开文件夹的结果</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="108"/>
        <source>To resume or repeat this run on a server without a screen:</source>
        <translation>要在没有图形界面的服务器上继续或重复这次运行，请使用：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="109"/>
        <source>Equivalent command line</source>
        <translation>等效的命令行</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="110"/>
        <source>&amp;Copy command</source>
        <translation>复制命令(&amp;C)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="111"/>
        <source>Copy the command line</source>
        <translation>复制命令行</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="142"/>
        <source>Not finished (resumes next time)</source>
        <translation>未完成（下次继续）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="144"/>
        <source>Already in place</source>
        <translation>已就绪</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="144"/>
        <source>Done</source>
        <translation>完成</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="146"/>
        <source>Waiting</source>
        <translation>等待中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="148"/>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="177"/>
        <source>Every part ran to the end. Checking the images against the annotations…</source>
        <translation>所有部分均已运行完毕。正在对照标注检查图像…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="179"/>
        <source>Every part ran to the end. The check of the images against the annotations did not finish (see below); Check again runs it.</source>
        <translation>所有部分均已运行完毕。对照标注检查图像未能完成（见下文）；点击“重新检查”再次运行。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="184"/>
        <source>Everything you selected is in place. The annotations also reference images of parts you did not select (see below).</source>
        <translation>您选择的内容均已就绪。标注还引用了您未选择的部分中的图像（见下文）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="187"/>
        <source>Every part ran to the end, but the check below finds images missing or unreadable. Repair fetches them again.</source>
        <translation>所有部分均已运行完毕，但下面的检查发现有图像缺失或无法读取。“修复”会重新获取它们。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="225"/>
        <source>No file manager could be opened here. The folder is: {path}</source>
        <translation>此处无法打开文件管理器。文件夹位于：{path}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="182"/>
        <source>Everything is in place.</source>
        <translation>全部数据已就绪。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/finish.py" line="174"/>
        <source>Some parts are not finished yet; run again (here or with the command below) to complete them.</source>
        <translation>部分内容尚未完成；请再次运行（在此处或使用下面的命令）来完成它们。</translation>
    </message>
</context>
<context>
    <name>Format</name>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="16"/>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="23"/>
        <source>{size}/s</source>
        <translation>{size}/秒</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="32"/>
        <source>{s} s</source>
        <translation>{s} 秒</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="34"/>
        <source>{m} min {s:02d} s</source>
        <translation>{m} 分 {s:02d} 秒</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="35"/>
        <source>{h} h {m:02d} min</source>
        <translation>{h} 小时 {m:02d} 分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="42"/>
        <source>Queued</source>
        <translation>排队中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="43"/>
        <source>Downloading</source>
        <translation>下载中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="44"/>
        <source>Verifying</source>
        <translation>校验中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="45"/>
        <source>Extracting</source>
        <translation>解压中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="46"/>
        <source>Placing files</source>
        <translation>放置文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="47"/>
        <source>Done</source>
        <translation>完成</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="48"/>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="49"/>
        <source>Waiting</source>
        <translation>等待中</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="50"/>
        <source>Stopped (kept)</source>
        <translation>已停止（已保留）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="61"/>
        <source>already in place</source>
        <translation>已就绪</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="62"/>
        <source>partly done, resumes</source>
        <translation>部分完成，将继续</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="63"/>
        <source>to do</source>
        <translation>待处理</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="64"/>
        <source>failed before, retries</source>
        <translation>之前失败，将重试</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/formatting.py" line="65"/>
        <source>was waiting, retries</source>
        <translation>之前在等待，将重试</translation>
    </message>
</context>
<context>
    <name>JobRow</name>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="66"/>
        <source>Progress of {title}</source>
        <translation>{title} 的进度</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="45"/>
        <location filename="../../wizard/gui/jobtable.py" line="102"/>
        <source>Re&amp;try</source>
        <translation>重试(&amp;T)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="67"/>
        <source>Retry {title}</source>
        <translation>重试 {title}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="68"/>
        <source>Problem with {title}</source>
        <translation>{title} 出现的问题</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="75"/>
        <source>Already in place</source>
        <translation>已就绪</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="77"/>
        <source>Paused</source>
        <translation>已暂停</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="79"/>
        <source>{stage}: {done} of {total} files</source>
        <translation>{stage}：{done} / {total} 个文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="92"/>
        <source>{done} of {total}</source>
        <translation>{done} / {total}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="102"/>
        <source>Retry queued</source>
        <translation>已排队重试</translation>
    </message>
</context>
<context>
    <name>JobTable</name>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="152"/>
        <source>Component</source>
        <translation>组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="152"/>
        <source>Stage</source>
        <translation>阶段</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="152"/>
        <source>Progress</source>
        <translation>进度</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="152"/>
        <source>Downloaded</source>
        <translation>已下载</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="153"/>
        <source>Speed</source>
        <translation>速度</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="153"/>
        <source>Time left</source>
        <translation>剩余时间</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="160"/>
        <source>Already in place</source>
        <translation>已就绪</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="160"/>
        <source>Paused</source>
        <translation>已暂停</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="161"/>
        <source>{stage}: {done} of {total} files</source>
        <translation>{stage}：{done} / {total} 个文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/jobtable.py" line="163"/>
        <source>{done} of {total}</source>
        <translation>{done} / {total}</translation>
    </message>
</context>
<context>
    <name>LocalCopies</name>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="59"/>
        <source>Copies you already have (optional)</source>
        <translation>您已有的副本（可选）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="60"/>
        <source>If you already downloaded an archive (or extracted folder) of a part, point to it and it is used instead of downloading.</source>
        <translation>如果您已经下载了某一部分的压缩包（或解压后的文件夹），请在此指定，将直接使用它而不再下载。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="62"/>
        <source>Component you have a copy of</source>
        <translation>您已有副本的组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="63"/>
        <source>Choose the archive you have</source>
        <translation>选择您已有的压缩包</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="64"/>
        <source>Path of your copy</source>
        <translation>副本的路径</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="64"/>
        <source>Brow&amp;se…</source>
        <translation>浏览(&amp;S)…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="65"/>
        <source>Fol&amp;der…</source>
        <translation>文件夹(&amp;D)…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="67"/>
        <source>&amp;Add</source>
        <translation>添加(&amp;A)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="70"/>
        <source>Remo&amp;ve</source>
        <translation>移除(&amp;V)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="66"/>
        <source>Choose an extracted folder instead</source>
        <translation>改为选择已解压的文件夹</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="68"/>
        <source>Add this local copy</source>
        <translation>添加此本地副本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="69"/>
        <source>Local copies</source>
        <translation>本地副本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="71"/>
        <source>Remove the selected local copy</source>
        <translation>移除选中的本地副本</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="96"/>
        <source>{title} → {path}</source>
        <translation>{title} → {path}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/localcopies.py" line="113"/>
        <source>Choose the folder you have</source>
        <translation>选择您已有的文件夹</translation>
    </message>
</context>
<context>
    <name>OptionsPage</name>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="155"/>
        <source>Sources and options</source>
        <translation>来源与选项</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="156"/>
        <source>Only the options that matter for your selection are shown.</source>
        <translation>这里只显示与您的选择相关的选项。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="157"/>
        <source>SA-1B links file (for the SAM tars)</source>
        <translation>SA-1B 链接文件（用于 SAM tar 包）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="158"/>
        <source>Accept the SA-1B license on Meta&apos;s download page, save the links file it offers (file_name, cdn_link) and choose it here. The links expire after a few days.</source>
        <translation>请在 Meta 的下载页面接受 SA-1B 许可协议，保存页面提供的链接文件（file_name、cdn_link），然后在此选择它。这些链接几天后就会过期。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="161"/>
        <source>Choose the SA-1B links file</source>
        <translation>选择 SA-1B 链接文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="162"/>
        <source>SA-1B links file</source>
        <translation>SA-1B 链接文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="163"/>
        <source>Links files (*.txt *.tsv);;All files (*)</source>
        <translation>链接文件 (*.txt *.tsv);;所有文件 (*)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="164"/>
        <source>Links file check</source>
        <translation>链接文件检查</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="165"/>
        <source>Hugging Face Hub</source>
        <translation>Hugging Face Hub</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="166"/>
        <source>Hub endpoint</source>
        <translation>Hub 端点</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="204"/>
        <source>Language note</source>
        <translation>语言提示</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="262"/>
        <source>From HF_ENDPOINT ({host})</source>
        <translation>来自 HF_ENDPOINT（{host}）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="263"/>
        <source>Default ({host})</source>
        <translation>默认（{host}）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="172"/>
        <source>hf-mirror.com (mirror for mainland China)</source>
        <translation>hf-mirror.com（中国大陆镜像）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="173"/>
        <source>Custom URL</source>
        <translation>自定义网址</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="174"/>
        <source>Custom Hub endpoint URL</source>
        <translation>自定义 Hub 端点网址</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="175"/>
        <source>optional; only for gated or private files</source>
        <translation>可选；仅受限或私有文件需要</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="176"/>
        <source>Hugging Face token</source>
        <translation>Hugging Face 令牌</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="177"/>
        <source>Hub &amp;endpoint:</source>
        <translation>Hub 端点(&amp;E)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="178"/>
        <source>C&amp;ustom URL:</source>
        <translation>自定义网址(&amp;U)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="179"/>
        <source>&amp;Token:</source>
        <translation>令牌(&amp;T)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="180"/>
        <source>Downloads</source>
        <translation>下载</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="181"/>
        <source>Allow community &amp;mirrors as a fallback (third-party re-hosts, checked against size and checksum)</source>
        <translation>允许使用社区镜像(&amp;M)作为备用（第三方转存，会核对大小和校验和）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="183"/>
        <source>Allow community mirrors</source>
        <translation>允许社区镜像</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="184"/>
        <source>&amp;Keep the archives after extraction (needs more space)</source>
        <translation>解压后保留压缩包(&amp;K)（需要更多空间）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="185"/>
        <source>Keep archives</source>
        <translation>保留压缩包</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="186"/>
        <source>Extract &amp;whole archives, not only the images the selected captions use</source>
        <translation>解压完整的压缩包(&amp;W)，而不仅是所选描述用到的图像</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="187"/>
        <source>Extract whole archives</source>
        <translation>解压完整的压缩包</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="188"/>
        <source>By default only the images that the selected annotation JSONs reference are extracted, which saves a lot of space.</source>
        <translation>默认只解压所选标注 JSON 引用到的图像，这样可以节省大量空间。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="190"/>
        <source>Jobs at once</source>
        <translation>同时进行的任务数</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="191"/>
        <source>&amp;Jobs at once:</source>
        <translation>同时进行的任务数(&amp;J)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="193"/>
        <source>Choose a cookies.txt file</source>
        <translation>选择 cookies.txt 文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="194"/>
        <source>Google Drive cookies file</source>
        <translation>Google Drive cookies 文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="195"/>
        <source>Cookies files (*.txt);;All files (*)</source>
        <translation>Cookies 文件 (*.txt);;所有文件 (*)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="196"/>
        <source>Choose &amp;file…</source>
        <translation>选择文件(&amp;F)…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="197"/>
        <source>Optional: cookies.txt exported from a browser signed in to Google. It may get past Drive&apos;s &apos;too many users&apos; quota; a copy is used.</source>
        <translation>可选：从已登录 Google 的浏览器导出的 cookies.txt。它可能绕过 Drive 的“下载人数过多”配额；使用的是其副本。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="199"/>
        <source>Drive &amp;cookies:</source>
        <translation>Drive cookies(&amp;C)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="200"/>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="201"/>
        <source>Language of the wizard</source>
        <translation>向导的界面语言</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="202"/>
        <source>System</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="203"/>
        <source>&amp;Language:</source>
        <translation>语言(&amp;L)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="139"/>
        <location filename="../../wizard/gui/pages/options.py" line="168"/>
        <source>Offline demo mirror ({url})</source>
        <translation>离线演示镜像（{url}）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="282"/>
        <source>Choose the links file to continue, or go back and leave out the SAM tars.</source>
        <translation>请选择链接文件以继续，或返回上一步不选 SAM tar 包。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="294"/>
        <source>Line {line}: {reason}</source>
        <translation>第 {line} 行：{reason}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="295"/>
        <source>This file cannot be used. {reason}</source>
        <translation>无法使用此文件。{reason}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="309"/>
        <source>no expiry found in the links</source>
        <translation>链接中未找到过期时间</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="313"/>
        <source>These links expired on {date}. Get a fresh links file from Meta&apos;s SA-1B page.</source>
        <translation>这些链接已于 {date} 过期。请从 Meta 的 SA-1B 页面获取新的链接文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="318"/>
        <source>the earliest link expires on {date} ({days} days left)</source>
        <translation>最早的链接将于 {date} 过期（还剩 {days} 天）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="321"/>
        <source>{n} links; {when}.</source>
        <translation>共 {n} 个链接；{when}。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/options.py" line="323"/>
        <source>Missing from the file: {names} ({k} of {total}); those tars will fail.</source>
        <translation>文件中缺少：{names}（{total} 个中缺 {k} 个）；这些 tar 包将会失败。</translation>
    </message>
</context>
<context>
    <name>PathField</name>
    <message>
        <location filename="../../wizard/gui/widgets.py" line="87"/>
        <source>B&amp;rowse…</source>
        <translation>浏览(&amp;R)…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/widgets.py" line="88"/>
        <source>Browse: {what}</source>
        <translation>浏览：{what}</translation>
    </message>
</context>
<context>
    <name>Problems</name>
    <message>
        <location filename="../../wizard/gui/problems.py" line="21"/>
        <source>The data root does not exist.</source>
        <translation>数据根目录不存在。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="22"/>
        <source>Create its parent folder or choose an existing folder.</source>
        <translation>请先创建其上级文件夹，或选择一个已存在的文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="24"/>
        <source>The data root is a file, not a folder.</source>
        <translation>数据根目录是一个文件，而不是文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="25"/>
        <source>Choose a folder.</source>
        <translation>请选择一个文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="27"/>
        <source>The data root cannot be written.</source>
        <translation>无法写入数据根目录。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="28"/>
        <source>Choose a folder you own.</source>
        <translation>请选择您有写入权限的文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="30"/>
        <source>Another run is using this data root.</source>
        <translation>另一个运行正在使用此数据根目录。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="31"/>
        <source>Wait for it to finish or stop it, then start again.</source>
        <translation>请等待其完成或将其停止，然后重新开始。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="33"/>
        <source>This folder is for the demo, or for real data — not both.</source>
        <translation>此文件夹只能用于演示或真实数据，不能两者兼用。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="34"/>
        <source>Choose another data root.</source>
        <translation>请选择另一个数据根目录。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="36"/>
        <source>Not enough free disk space.</source>
        <translation>磁盘可用空间不足。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="37"/>
        <source>Free some space or choose another root; the work so far is kept.</source>
        <translation>请释放一些空间或选择其他根目录；已完成的工作会保留。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="39"/>
        <source>The catalog file is not valid.</source>
        <translation>目录文件无效。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="40"/>
        <source>Fix the catalog file or use the bundled one.</source>
        <translation>请修正目录文件，或使用自带的目录文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="42"/>
        <source>Unknown component or preset.</source>
        <translation>未知的组件或预设。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="43"/>
        <source>Check the name.</source>
        <translation>请检查名称。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="45"/>
        <source>The network failed.</source>
        <translation>网络出错。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="46"/>
        <source>Check the connection (or a proxy) and retry; downloads resume.</source>
        <translation>请检查网络连接（或代理）后重试；下载会断点续传。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="48"/>
        <source>The server refused the download.</source>
        <translation>服务器拒绝了下载。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="49"/>
        <source>Retry later, or enable the community mirrors if there are any.</source>
        <translation>请稍后重试；如有社区镜像，也可以启用它们。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="51"/>
        <source>The download kept failing.</source>
        <translation>下载多次失败。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="52"/>
        <source>Retry later; what arrived so far is kept.</source>
        <translation>请稍后重试；已下载的部分会保留。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="54"/>
        <source>The file has an unexpected size.</source>
        <translation>文件大小与预期不符。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="55"/>
        <source>Retry; if it persists the source has changed.</source>
        <translation>请重试；如果问题仍然存在，说明来源已发生变化。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="57"/>
        <source>The file&apos;s checksum does not match.</source>
        <translation>文件校验和不匹配。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="58"/>
        <source>Retry; the damaged copy is kept aside for inspection.</source>
        <translation>请重试；损坏的副本已另行保存以便检查。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="60"/>
        <source>The archive is damaged.</source>
        <translation>压缩包已损坏。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="61"/>
        <source>Retry to download it again.</source>
        <translation>请重试以重新下载。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="63"/>
        <source>The archive holds unsafe paths and was not extracted.</source>
        <translation>压缩包包含不安全的路径，未予解压。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="64"/>
        <source>Use the official source.</source>
        <translation>请使用官方来源。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="66"/>
        <source>An annotation JSON cannot be read.</source>
        <translation>无法读取标注 JSON。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="67"/>
        <source>Download it again (Retry).</source>
        <translation>请重新下载（重试）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="69"/>
        <source>Files are missing after extraction.</source>
        <translation>解压后缺少文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="70"/>
        <source>Retry; the check on the finish page lists what is missing.</source>
        <translation>请重试；完成页面上的检查会列出缺少的内容。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="72"/>
        <source>The Hugging Face Hub did not describe the file.</source>
        <translation>Hugging Face Hub 未返回该文件的信息。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="73"/>
        <source>Check the network and the token, or use a Hub mirror.</source>
        <translation>请检查网络和令牌，或使用 Hub 镜像。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="75"/>
        <source>Google Drive&apos;s download quota for this file is used up.</source>
        <translation>Google Drive 上此文件的下载配额已用完。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="76"/>
        <source>Retry after about 24 hours, or enable the community mirrors.</source>
        <translation>请在约 24 小时后重试，或启用社区镜像。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="78"/>
        <source>Google Drive refused access to the file.</source>
        <translation>Google Drive 拒绝访问此文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="79"/>
        <location filename="../../wizard/gui/problems.py" line="82"/>
        <source>Retry later, or enable the community mirrors.</source>
        <translation>请稍后重试，或启用社区镜像。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="81"/>
        <source>Google Drive sent a web page instead of the file.</source>
        <translation>Google Drive 返回了网页而不是文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="84"/>
        <source>The SA-1B links file is needed.</source>
        <translation>需要 SA-1B 链接文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="85"/>
        <source>Get it from Meta&apos;s SA-1B page and choose it on the options page.</source>
        <translation>请从 Meta 的 SA-1B 页面获取，并在选项页面中选择它。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="87"/>
        <source>The SA-1B links file cannot be used.</source>
        <translation>无法使用此 SA-1B 链接文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="88"/>
        <source>Save the links file from Meta&apos;s SA-1B page again.</source>
        <translation>请从 Meta 的 SA-1B 页面重新保存链接文件。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="90"/>
        <source>The SA-1B links have expired.</source>
        <translation>SA-1B 链接已过期。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="91"/>
        <source>Get a fresh links file from Meta&apos;s SA-1B page and retry.</source>
        <translation>请从 Meta 的 SA-1B 页面获取新的链接文件后重试。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="93"/>
        <source>The local copy cannot be used.</source>
        <translation>无法使用此本地副本。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="94"/>
        <source>Check the path you gave.</source>
        <translation>请检查您提供的路径。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="96"/>
        <source>No usable source for this part.</source>
        <translation>此部分没有可用的来源。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="97"/>
        <source>Enable the community mirrors or give a local copy.</source>
        <translation>请启用社区镜像或提供本地副本。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="99"/>
        <source>Cancelled.</source>
        <translation>已取消。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="100"/>
        <source>The work done so far is kept.</source>
        <translation>已完成的工作会保留。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="102"/>
        <source>An unexpected error (a bug).</source>
        <translation>意外错误（程序缺陷）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="103"/>
        <source>The work so far is kept. Please report it with the log.</source>
        <translation>已完成的工作会保留。请附上日志报告此问题。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="114"/>
        <source>{summary} ({detail})</source>
        <translation>{summary}（{detail}）</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/problems.py" line="124"/>
        <source>What to do: {hint}</source>
        <translation>处理方法：{hint}</translation>
    </message>
</context>
<context>
    <name>ProgressPage</name>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="110"/>
        <source>Preparing the data</source>
        <extracomment>Job rows always in view (the page scrolls when the window is shorter).</extracomment>
        <translation>正在准备数据</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="111"/>
        <source>You can keep using the computer; the work runs in the background.</source>
        <translation>您可以继续使用电脑；这些工作在后台进行。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="112"/>
        <source>Overall progress</source>
        <translation>总体进度</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="113"/>
        <source>Jobs</source>
        <translation>任务</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="114"/>
        <source>Overall progress details</source>
        <translation>总体进度详情</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="115"/>
        <location filename="../../wizard/gui/pages/progress.py" line="187"/>
        <location filename="../../wizard/gui/pages/progress.py" line="269"/>
        <location filename="../../wizard/gui/pages/progress.py" line="280"/>
        <source>&amp;Pause</source>
        <translation>暂停(&amp;P)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="116"/>
        <source>Pause or resume the run</source>
        <translation>暂停或继续运行</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="117"/>
        <source>&amp;Cancel run</source>
        <translation>取消运行(&amp;C)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="118"/>
        <source>Cancel the run</source>
        <translation>取消运行</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="119"/>
        <source>Stops the run. Everything downloaded so far is kept and the next run resumes where this one stopped.</source>
        <translation>停止运行。已下载的内容都会保留，下次运行会从停止的地方继续。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="121"/>
        <source>Run &amp;again</source>
        <translation>再次运行(&amp;A)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="122"/>
        <source>Run the unfinished parts again</source>
        <translation>再次运行未完成的部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="123"/>
        <source>Run status</source>
        <translation>运行状态</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="125"/>
        <location filename="../../wizard/gui/pages/progress.py" line="314"/>
        <source>Show &amp;log</source>
        <translation>显示日志(&amp;L)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="126"/>
        <source>Show or hide the log</source>
        <translation>显示或隐藏日志</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="127"/>
        <source>Log</source>
        <translation>日志</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="170"/>
        <source>Working out the plan…</source>
        <translation>正在制定计划…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="184"/>
        <source>The plan may not fit the free space; jobs wait when the disk is full.</source>
        <translation>计划可能超出剩余空间；磁盘写满时相关任务会等待。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="189"/>
        <location filename="../../wizard/gui/pages/progress.py" line="281"/>
        <source>Working…</source>
        <translation>正在处理…</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="201"/>
        <source>warning</source>
        <translation>警告</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="201"/>
        <source>error</source>
        <translation>错误</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="213"/>
        <source>{done} of {total}</source>
        <translation>{done} / {total}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="216"/>
        <source>{eta} left</source>
        <translation>剩余 {eta}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="218"/>
        <source>paused</source>
        <translation>已暂停</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="246"/>
        <source>Cancelled. Everything downloaded so far is kept: press Run again, or open the wizard on the same folder later, to resume.</source>
        <translation>已取消。已下载的内容都已保留：点击“再次运行”，或稍后在同一文件夹上打开向导，即可继续。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="250"/>
        <source>{failed} failed, {waiting} waiting. Each message says what to do; Retry runs that part again.</source>
        <translation>{failed} 项失败，{waiting} 项等待中。每条消息都说明了处理方法；“重试”会再次运行该部分。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="254"/>
        <source>All done. Press Next for the summary.</source>
        <translation>全部完成。点击“下一步”查看总结。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="115"/>
        <location filename="../../wizard/gui/pages/progress.py" line="284"/>
        <source>&amp;Resume</source>
        <translation>继续(&amp;R)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="285"/>
        <source>Paused. The jobs wait at their next chunk; nothing is lost.</source>
        <translation>已暂停。各任务在下一个数据块处等待，不会丢失任何内容。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="294"/>
        <source>Stopping… everything downloaded so far is kept and can be resumed.</source>
        <translation>正在停止…已下载的内容都会保留，之后可以继续。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/progress.py" line="125"/>
        <location filename="../../wizard/gui/pages/progress.py" line="314"/>
        <source>Hide &amp;log</source>
        <translation>隐藏日志(&amp;L)</translation>
    </message>
</context>
<context>
    <name>RootPage</name>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="61"/>
        <location filename="../../wizard/gui/pages/root.py" line="65"/>
        <source>Data root</source>
        <translation>数据根目录</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="62"/>
        <source>The folder that will hold the data. Training reads it with --image_folder. It may be empty or not exist yet.</source>
        <translation>存放数据的文件夹。训练时通过 --image_folder 读取它。它可以是空的，也可以尚不存在。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="64"/>
        <source>&amp;Data root:</source>
        <translation>数据根目录(&amp;D)：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="65"/>
        <source>Choose the data root</source>
        <translation>选择数据根目录</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="66"/>
        <source>Data root check</source>
        <translation>数据根目录检查</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="67"/>
        <source>Full pretraining needs about 700 GB; the SFT mixture about 120 GB. The next page shows the exact budget for your selection.</source>
        <translation>完整预训练约需 700 GB；SFT 混合数据约需 120 GB。下一页会显示您所选内容的确切空间预算。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="69"/>
        <location filename="../../wizard/gui/pages/root.py" line="70"/>
        <source>Earlier work in this folder</source>
        <translation>此文件夹中之前的工作</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="71"/>
        <source>Res&amp;ume where it stopped</source>
        <translation>从中断处继续(&amp;U)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="72"/>
        <source>Resume the last run</source>
        <translation>继续上一次运行</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="109"/>
        <source>This is a file, not a folder.</source>
        <translation>这是一个文件，不是文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="110"/>
        <source>Neither this folder nor its parent exists; create the parent first or choose an existing folder.</source>
        <translation>此文件夹及其上级文件夹都不存在；请先创建上级文件夹，或选择一个已存在的文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="112"/>
        <source>You cannot write here; choose a folder you own.</source>
        <translation>您无权写入此处；请选择您拥有的文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="113"/>
        <source>A name in this path is too long for the filesystem (most allow 255 bytes per name).</source>
        <translation>此路径中有名称超出文件系统允许的长度（大多数文件系统每个名称最多 255 字节）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="115"/>
        <source>This folder holds real data; give the demo a folder of its own.</source>
        <translation>此文件夹包含真实数据；请为演示另选一个文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="116"/>
        <source>The offline demo filled this folder with placeholder images; choose another folder for the real data.</source>
        <translation>离线演示已在此文件夹中放入占位图片；请为真实数据另选一个文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="138"/>
        <source>{free} free on this disk.</source>
        <translation>此磁盘剩余 {free}。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="141"/>
        <source>{free} free on this disk; the folder will be created.</source>
        <translation>此磁盘剩余 {free}；将创建该文件夹。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/root.py" line="158"/>
        <source>This folder already holds work from an earlier run: {done} done, {partial} partly done, {failed} failed. Resume to continue exactly where it stopped (downloaded bytes are kept).</source>
        <translation>此文件夹中已有之前运行的成果：{done} 项完成，{partial} 项部分完成，{failed} 项失败。选择继续即可从中断处接着进行（已下载的数据会保留）。</translation>
    </message>
</context>
<context>
    <name>SetupWizard</name>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="161"/>
        <source>Cannot start</source>
        <extracomment>Made on first use (the bridge module brings the engine&apos;s event types: not needed for the first frame); given by tests that swap its executor. Not 0 when the wizard could not start (the catalog cannot be read): the exit code.</extracomment>
        <translation>无法启动</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="173"/>
        <source>ShareGPT4V data setup</source>
        <translation>ShareGPT4V 数据准备</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="175"/>
        <source>{title} — offline demo</source>
        <translation>{title} — 离线演示</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="179"/>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="180"/>
        <source>Ab&amp;out</source>
        <translation>关于(&amp;O)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="181"/>
        <source>About this application</source>
        <translation>关于本程序</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="210"/>
        <source>Stop and quit?</source>
        <translation>停止并退出？</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="211"/>
        <source>Data is still being prepared. Stop now and quit? Everything downloaded so far is kept; open the wizard on the same folder to resume.</source>
        <translation>数据仍在准备中。现在停止并退出吗？已下载的内容都会保留；在同一文件夹上打开向导即可继续。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/wizard.py" line="177"/>
        <source>Stopping… (the work so far is kept)</source>
        <translation>正在停止…（已完成的工作会保留）</translation>
    </message>
</context>
<context>
    <name>SummaryPage</name>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="32"/>
        <source>Ready to start</source>
        <translation>准备开始</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="33"/>
        <source>Check the plan. The run can be paused, cancelled and resumed at any time; finished work is never downloaded twice.</source>
        <translation>请检查计划。运行可以随时暂停、取消和继续；已完成的内容不会重复下载。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="35"/>
        <source>&amp;Start</source>
        <translation>开始(&amp;S)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="36"/>
        <source>Plan summary</source>
        <translation>计划摘要</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="48"/>
        <source>no usable source</source>
        <translation>没有可用的来源</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="52"/>
        <source>[community mirror]</source>
        <translation>[社区镜像]</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="53"/>
        <source>—</source>
        <translation>—</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="64"/>
        <source>Component</source>
        <translation>组成部分</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="64"/>
        <source>Source</source>
        <translation>来源</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="64"/>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="64"/>
        <source>Download</source>
        <translation>下载大小</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="67"/>
        <source>Data root: {root}</source>
        <translation>数据根目录：{root}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="68"/>
        <source>To download: {size}</source>
        <translation>需要下载：{size}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="69"/>
        <source>Disk needed at the peak: {size}; at the end: {final}</source>
        <translation>磁盘峰值占用：{size}；完成后占用：{final}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="71"/>
        <source>Free now: {size}</source>
        <translation>当前剩余空间：{size}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="72"/>
        <source>Jobs at once: {n}</source>
        <translation>同时进行的任务数：{n}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="75"/>
        <source>Archives are kept after extraction.</source>
        <translation>解压后保留压缩包。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="77"/>
        <source>Whole archives are extracted.</source>
        <translation>将解压完整的压缩包。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="79"/>
        <source>Community mirrors may be used as a fallback.</source>
        <translation>可能使用社区镜像作为备用。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="81"/>
        <source>Local copies: {list}</source>
        <translation>本地副本：{list}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/summary.py" line="86"/>
        <source>The plan does not fit the free space; you chose to start anyway. The run pauses the affected jobs when the disk is full.</source>
        <translation>计划超出了剩余空间，但您选择了仍然开始。磁盘写满时，受影响的任务会暂停等待。</translation>
    </message>
</context>
<context>
    <name>VerifyPanel</name>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="103"/>
        <source>Images the annotations reference</source>
        <translation>标注文件引用的图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="104"/>
        <source>C&amp;heck again</source>
        <translation>重新检查(&amp;H)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="105"/>
        <source>Check the images against the annotations again</source>
        <translation>按标注文件重新检查图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="106"/>
        <source>&amp;Repair</source>
        <translation>修复(&amp;R)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="107"/>
        <source>Fetch the missing images again</source>
        <translation>重新获取缺失的图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="109"/>
        <source>Fetches only the missing images from the archives that hold them (also of parts not selected in this run), then checks again.</source>
        <translation>只从包含缺失图片的压缩包中取回这些图片（也包括本次未选择的部分），然后重新检查。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="111"/>
        <source>&amp;Stop</source>
        <translation>停止(&amp;S)</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="112"/>
        <source>Stop the check or repair</source>
        <translation>停止检查或修复</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="113"/>
        <source>Stops at the next file; what is restored so far is kept.</source>
        <translation>在下一个文件处停止；已恢复的内容会保留。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="114"/>
        <source>Checking or repairing</source>
        <translation>正在检查或修复</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="115"/>
        <source>Repair log</source>
        <translation>修复日志</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="143"/>
        <source>Repairing the missing images…</source>
        <translation>正在修复缺失的图片…</translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifypanel.py" line="202"/>
        <source>Restored %n image(s).</source>
        <translation>
            <numerusform>已恢复 %n 张图片。</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifypanel.py" line="218"/>
        <source>Stopped. The work done so far is kept.</source>
        <translation>已停止。已完成的工作会保留。</translation>
    </message>
</context>
<context>
    <name>VerifyView</name>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="66"/>
        <source>Verification verdict</source>
        <extracomment>Rows of the counts tree shown before it scrolls (the finish page itself scrolls).</extracomment>
        <translation>检查结论</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="67"/>
        <source>Referenced images per annotation file and image folder</source>
        <translation>按标注文件和图片文件夹统计的引用图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="68"/>
        <source>Annotation file / image folder</source>
        <translation>标注文件 / 图片文件夹</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="68"/>
        <source>Referenced</source>
        <translation>引用</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="69"/>
        <source>Present</source>
        <translation>已有</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="69"/>
        <source>Missing</source>
        <translation>缺失</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="69"/>
        <source>Unreadable</source>
        <translation>无法读取</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="70"/>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="73"/>
        <source>Files listing every missing image</source>
        <translation>列出全部缺失图片的文件</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="74"/>
        <source>Images no source can provide</source>
        <translation>任何来源都无法提供的图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="75"/>
        <source>Image</source>
        <translation>图片</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="75"/>
        <source>Why it cannot be restored</source>
        <translation>无法恢复的原因</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="98"/>
        <source>not selected in this run</source>
        <translation>本次未选择</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="104"/>
        <source>{json}: {list}</source>
        <translation>{json}：{list}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/verifyview.py" line="105"/>
        <source>Full lists of the missing images:</source>
        <translation>缺失图片的完整列表：</translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifyview.py" line="119"/>
        <source>Every image the annotations reference is in place (%n image(s)).</source>
        <translation>
            <numerusform>标注文件引用的所有图片均已就位（共 %n 张）。</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifyview.py" line="124"/>
        <source>%n image(s) missing</source>
        <translation>
            <numerusform>缺失 %n 张图片</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifyview.py" line="126"/>
        <source>%n image(s) unreadable</source>
        <translation>
            <numerusform>%n 张图片无法读取</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifyview.py" line="128"/>
        <source>%n invalid image path(s)</source>
        <translation>
            <numerusform>%n 个无效的图片路径</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <location filename="../../wizard/gui/verifyview.py" line="138"/>
        <source>%n image(s) no source can provide:</source>
        <translation>
            <numerusform>有 %n 张图片任何来源都无法提供：</numerusform>
        </translation>
    </message>
</context>
<context>
    <name>WelcomePage</name>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="62"/>
        <source>Set up the ShareGPT4V training data</source>
        <translation>设置 ShareGPT4V 训练数据</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="63"/>
        <source>This wizard downloads, checks, extracts and lays out the images and captions that ShareGPT4V training reads.</source>
        <translation>本向导会下载、校验、解压并整理 ShareGPT4V 训练所需的图像和描述数据。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="66"/>
        <source>You choose a data root and what to prepare; the wizard fetches each part from its official source, verifies it, extracts it into the folder layout training expects and removes the archives. Everything is resumable: you can pause, quit or lose the network and continue later from where it stopped.</source>
        <translation>您只需选择数据根目录和要准备的内容；向导会从各部分的官方来源获取数据、进行校验、解压到训练所需的文件夹结构中，并删除压缩包。一切都可以续传：您可以暂停、退出，即使断网，之后也能从中断处继续。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="70"/>
        <source>&lt;b&gt;Usage terms.&lt;/b&gt; The data comes from several sources, each with its own terms:</source>
        <translation>&lt;b&gt;使用条款。&lt;/b&gt;这些数据来自多个来源，各自有不同的使用条款：</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="72"/>
        <source>Usage terms of the data</source>
        <translation>数据的使用条款</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="75"/>
        <source>I h&amp;ave read these terms and will use the data accordingly (research, non-commercial).</source>
        <translation>我已阅读(&amp;A)这些条款，并将按其规定使用数据（研究用途，非商业）。</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="76"/>
        <source>Accept the usage terms</source>
        <translation>接受使用条款</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="87"/>
        <source>Applies to: {names}</source>
        <translation>适用于：{names}</translation>
    </message>
    <message>
        <location filename="../../wizard/gui/pages/welcome.py" line="89"/>
        <source>The ShareGPT4V captions are released under CC BY-NC 4.0; the web images are only for academic usage; SA-1B needs Meta&apos;s license.</source>
        <translation>ShareGPT4V 描述数据以 CC BY-NC 4.0 许可发布；网络图像仅限学术用途；SA-1B 需要接受 Meta 的许可协议。</translation>
    </message>
</context>
</TS>
